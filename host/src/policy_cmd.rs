//! `securescan policy keygen|sign|verify|inspect`: operator commands for
//! policy builds (see `securescan_host::policy::signing` for the formats).

use anyhow::Context;
use clap::Subcommand;
use securescan_host::policy::registry::signature_path;
use securescan_host::policy::{invariants, signing, Runtime, RuntimeOptions};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Create an Ed25519 key pair: <OUT>.key (PKCS#8 PEM, mode 0600) and
    /// <OUT>.pub (SPKI PEM, for SECURESCAN_POLICY_PUBLIC_KEY).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a build: writes the base64 signature to <FILE>.sig (or --out)
    /// and prints it.
    Sign {
        /// Private key: PEM (PKCS#8) or 32 raw bytes (binary, hex, base64).
        #[arg(long)]
        key: PathBuf,
        file: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a build's signature (exit 0 when valid, 1 when not).
    Verify {
        /// Public key: PEM (SPKI) or 32 raw bytes; a private key works too.
        #[arg(long)]
        key: PathBuf,
        file: PathBuf,
        /// The signature itself (base64 or hex) instead of a file.
        #[arg(long, conflicts_with = "signature_file")]
        signature: Option<String>,
        /// Default: <FILE>.sig
        #[arg(long)]
        signature_file: Option<PathBuf>,
    },
    /// Print what a build says it is (name, version, WIT version, sha256)
    /// and whether it keeps the invariants.
    Inspect {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn write_new(path: &Path, content: &[u8], private: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts
        .open(path)
        .with_context(|| format!("{} (not overwritten)", path.display()))?;
    f.write_all(content)?;
    Ok(())
}

/// Runs one command; the exit status.
pub fn run(command: PolicyCommand) -> anyhow::Result<i32> {
    match command {
        PolicyCommand::Keygen { out } => {
            let (key, private, public) = signing::generate();
            let mut k = out.clone().into_os_string();
            k.push(".key");
            let mut p = out.into_os_string();
            p.push(".pub");
            let private = secrecy::ExposeSecret::expose_secret(&private);
            write_new(Path::new(&k), private.as_bytes(), true)?;
            write_new(Path::new(&p), public.as_bytes(), false)?;
            println!("private key: {}", Path::new(&k).display());
            println!("public key:  {}", Path::new(&p).display());
            println!(
                "public key (hex): {}",
                signing::fingerprint(&key.verifying_key())
            );
            Ok(0)
        }
        PolicyCommand::Sign { key, file, out } => {
            let key = signing::read_signing_key(&key)?;
            let wasm = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let sig = signing::sign(&key, &wasm);
            let out = out.unwrap_or_else(|| signature_path(&file));
            std::fs::write(&out, format!("{sig}\n")).with_context(|| out.display().to_string())?;
            println!("sha256:    {}", hex::encode(signing::digest(&wasm)));
            println!("signature: {sig}");
            println!("written:   {}", out.display());
            Ok(0)
        }
        PolicyCommand::Verify {
            key,
            file,
            signature,
            signature_file,
        } => {
            let key = signing::read_verifying_key(&key)?;
            let wasm = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let sig = match signature {
                Some(s) => s,
                None => {
                    let p = signature_file.unwrap_or_else(|| signature_path(&file));
                    std::fs::read_to_string(&p).with_context(|| p.display().to_string())?
                }
            };
            match signing::verify(&key, &wasm, Some(&sig)) {
                Ok(()) => {
                    println!(
                        "OK: {} is signed by {} (sha256 {})",
                        file.display(),
                        signing::fingerprint(&key),
                        hex::encode(signing::digest(&wasm))
                    );
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("securescan: {}: {e}", file.display());
                    Ok(1)
                }
            }
        }
        PolicyCommand::Inspect { file, json } => {
            let wasm = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let runtime = Runtime::new(RuntimeOptions::default())?;
            let build = match runtime.load_staged(&wasm) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("securescan: {}: {e}", file.display());
                    return Ok(1);
                }
            };
            let info = build.info();
            let failures = match invariants::check(&build, invariants::DEFAULT_INVARIANTS) {
                Ok(f) => f,
                Err(e) => vec![format!("trapped: {e}")],
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "file": file.display().to_string(),
                        "size": build.size(),
                        "sha256": build.sha256(),
                        "name": info.policy_name,
                        "version": info.policy_version,
                        "policy_sha256": info.policy_sha256,
                        "wit_version": info.wit_version,
                        "legacy_sunset": info.legacy_sunset,
                        "invariant_failures": failures,
                    })
                );
            } else {
                println!("file:          {}", file.display());
                println!("size:          {} bytes", build.size());
                println!("sha256:        {}", build.sha256());
                println!("name:          {}", info.policy_name);
                println!("version:       {}", info.policy_version);
                println!("policy sha256: {}", info.policy_sha256);
                println!("wit version:   {}", info.wit_version);
                println!("legacy sunset: {}", info.legacy_sunset);
                if failures.is_empty() {
                    println!("invariants:    ok");
                } else {
                    println!("invariants:    {} failing", failures.len());
                    for f in &failures {
                        println!("  - {f}");
                    }
                }
            }
            Ok(0)
        }
    }
}
