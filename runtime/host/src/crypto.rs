//! The `rusm:runtime/crypto` import: Web Crypto's primitives on RustCrypto.
//! Pure functions of their arguments; every length a guest passes is
//! checked, and a wrong one is an error value, never a panic.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::Digest;

use crate::imports::rusm::runtime::crypto::{self as wit, Hash};
use crate::process::ProcState;

type Aes192Gcm = AesGcm<Aes192, aes_gcm::aead::consts::U12>;

impl wit::Host for ProcState {
    fn digest(&mut self, hash: Hash, data: Vec<u8>) -> wasmtime::Result<Vec<u8>> {
        Ok(match hash {
            Hash::Sha1 => sha1::Sha1::digest(&data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(&data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(&data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(&data).to_vec(),
        })
    }

    fn hmac_sign(
        &mut self,
        hash: Hash,
        key: Vec<u8>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        Ok(hmac(hash, &key, &data, None))
    }

    fn hmac_verify(
        &mut self,
        hash: Hash,
        key: Vec<u8>,
        data: Vec<u8>,
        signature: Vec<u8>,
    ) -> wasmtime::Result<Result<bool, String>> {
        Ok(hmac(hash, &key, &data, Some(&signature)).map(|verified| !verified.is_empty()))
    }

    fn aes_gcm_encrypt(
        &mut self,
        key: Vec<u8>,
        iv: Vec<u8>,
        aad: Vec<u8>,
        plaintext: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        Ok(aes_gcm(&key, &iv, &aad, &plaintext, Direction::Encrypt))
    }

    fn aes_gcm_decrypt(
        &mut self,
        key: Vec<u8>,
        iv: Vec<u8>,
        aad: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        Ok(aes_gcm(&key, &iv, &aad, &ciphertext, Direction::Decrypt))
    }
}

/// The HMAC of `data`; with `expected`, a verification instead: one byte
/// (non-empty) when it matches, nothing when it does not.
fn hmac(hash: Hash, key: &[u8], data: &[u8], expected: Option<&[u8]>) -> Result<Vec<u8>, String> {
    if key.is_empty() {
        return Err("an HMAC key is not empty".into());
    }
    fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8], expected: Option<&[u8]>) -> Vec<u8> {
        let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(data);
        match expected {
            None => mac.finalize().into_bytes().to_vec(),
            // Constant time.
            Some(expected) => match mac.verify_slice(expected) {
                Ok(()) => vec![1],
                Err(_) => Vec::new(),
            },
        }
    }
    Ok(match hash {
        Hash::Sha1 => run::<Hmac<sha1::Sha1>>(key, data, expected),
        Hash::Sha256 => run::<Hmac<sha2::Sha256>>(key, data, expected),
        Hash::Sha384 => run::<Hmac<sha2::Sha384>>(key, data, expected),
        Hash::Sha512 => run::<Hmac<sha2::Sha512>>(key, data, expected),
    })
}

enum Direction {
    Encrypt,
    Decrypt,
}

fn aes_gcm(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
    direction: Direction,
) -> Result<Vec<u8>, String> {
    if iv.len() != 12 {
        return Err(format!(
            "an AES-GCM IV here is 96 bits (12 bytes), not {} bytes",
            iv.len()
        ));
    }
    fn run<C: Aead + KeyInit>(
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        data: &[u8],
        direction: Direction,
    ) -> Result<Vec<u8>, String> {
        let cipher = C::new_from_slice(key).map_err(|_| "a bad AES key".to_string())?;
        let nonce = Nonce::from_slice(iv);
        let payload = Payload { msg: data, aad };
        match direction {
            Direction::Encrypt => cipher.encrypt(nonce, payload).map_err(|_| "AES-GCM encryption failed".into()),
            Direction::Decrypt => cipher
                .decrypt(nonce, payload)
                .map_err(|_| "the AES-GCM tag does not authenticate the data (a wrong key, IV or additional data, or a changed byte)".into()),
        }
    }
    match key.len() {
        16 => run::<Aes128Gcm>(key, iv, aad, data, direction),
        24 => run::<Aes192Gcm>(key, iv, aad, data, direction),
        32 => run::<Aes256Gcm>(key, iv, aad, data, direction),
        n => Err(format!(
            "an AES key is 128, 192 or 256 bits (16, 24 or 32 bytes), not {n} bytes"
        )),
    }
}
