//! A PKCS#11 token (an HSM, a smart card, SoftHSM in the tests) that protects a node's
//! private key files at rest: an AES-256 key generated inside the token, never
//! extractable, encrypts and decrypts the key files with AES-GCM, the token doing the
//! work. Without the token and its PIN the files on disk are useless.
//!
//! The token is named by three environment variables, so that no PIN is ever on a
//! command line: [`MODULE_ENV`] (the PKCS#11 library), [`TOKEN_ENV`] (the token's label)
//! and [`PIN_FILE_ENV`] (a file holding the user PIN, a systemd credential say).
//!
//! Why wrap key files rather than sign and decrypt inside the token: see DECISIONS.md
//! ("Private keys in a PKCS#11 token").

use std::path::PathBuf;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The environment variable naming the PKCS#11 module (a shared library).
pub const MODULE_ENV: &str = "LIAISON_PKCS11_MODULE";
/// The environment variable naming the token by its label.
pub const TOKEN_ENV: &str = "LIAISON_PKCS11_TOKEN";
/// The environment variable naming the file that holds the token's user PIN.
pub const PIN_FILE_ENV: &str = "LIAISON_PKCS11_PIN_FILE";
/// The label of the wrapping key a node creates in its token unless told otherwise.
pub const DEFAULT_KEY_LABEL: &str = "liaison-key-wrap";

/// Where to find the token, from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TokenConfig {
    module: PathBuf,
    token: String,
    pin_file: PathBuf,
}

impl TokenConfig {
    fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var_os(name).ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "the keys are protected by a PKCS#11 token: set {MODULE_ENV}, {TOKEN_ENV} \
                     and {PIN_FILE_ENV} ({name} is not set)"
                ))
            })
        };
        Ok(Self {
            module: var(MODULE_ENV)?.into(),
            token: var(TOKEN_ENV)?.to_string_lossy().into_owned(),
            pin_file: var(PIN_FILE_ENV)?.into(),
        })
    }
}

/// A logged-in session on the token, kept for the life of the process: a module is
/// initialised once per process, and the node reads its key files at start and when it
/// rotates a key.
struct Open {
    config: TokenConfig,
    session: Session,
    // The library stays loaded while the session lives.
    _context: Pkcs11,
}

static OPEN: Mutex<Option<Open>> = Mutex::new(None);

fn failed(what: &str) -> impl Fn(cryptoki::error::Error) -> Error + '_ {
    move |e| Error::InvalidRequest(format!("the PKCS#11 token refused to {what}: {e}"))
}

/// Runs `f` with a logged-in session on the configured token.
fn with_session<R>(f: impl FnOnce(&Session) -> Result<R>) -> Result<R> {
    let config = TokenConfig::from_env()?;
    let mut open = OPEN
        .lock()
        .map_err(|_| Error::Internal("the PKCS#11 session lock is poisoned".into()))?;
    if open.as_ref().is_none_or(|o| o.config != config) {
        *open = None;
        *open = Some(login(config)?);
    }
    match open.as_ref() {
        Some(o) => f(&o.session),
        None => Err(Error::Internal("no PKCS#11 session".into())),
    }
}

fn login(config: TokenConfig) -> Result<Open> {
    let context = Pkcs11::new(&config.module).map_err(|e| {
        Error::InvalidRequest(format!(
            "cannot load the PKCS#11 module {} ({MODULE_ENV}): {e}",
            config.module.display()
        ))
    })?;
    context
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(failed("initialise"))?;
    let mut slot = None;
    for candidate in context
        .get_slots_with_token()
        .map_err(failed("list its slots"))?
    {
        let info = context
            .get_token_info(candidate)
            .map_err(failed("describe a token"))?;
        if info.label().trim_end() == config.token {
            slot = Some(candidate);
            break;
        }
    }
    let slot = slot.ok_or_else(|| {
        Error::InvalidRequest(format!(
            "no PKCS#11 token labelled {:?} in {} ({TOKEN_ENV})",
            config.token,
            config.module.display()
        ))
    })?;
    let mut pin = Zeroizing::new(std::fs::read_to_string(&config.pin_file).map_err(Error::io(
        "read the token PIN file (LIAISON_PKCS11_PIN_FILE)",
        &config.pin_file,
    ))?);
    if pin.ends_with('\n') {
        pin.pop();
    }
    let session = context
        .open_rw_session(slot)
        .map_err(failed("open a session"))?;
    session
        .login(UserType::User, Some(&AuthPin::from(pin.as_str())))
        .map_err(|e| {
            Error::InvalidRequest(format!(
                "the PKCS#11 token {:?} refused the PIN in {}: {e}",
                config.token,
                config.pin_file.display()
            ))
        })?;
    Ok(Open {
        config,
        session,
        _context: context,
    })
}

fn find_key(session: &Session, label: &str) -> Result<Option<ObjectHandle>> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(failed("search for the wrapping key"))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(Error::InvalidRequest(format!(
            "the PKCS#11 token holds {} AES keys labelled {label:?}; keep one",
            found.len()
        ))),
    }
}

fn the_key(session: &Session, label: &str) -> Result<ObjectHandle> {
    find_key(session, label)?.ok_or_else(|| {
        Error::InvalidRequest(format!(
            "the PKCS#11 token holds no AES key labelled {label:?} (was it deleted, or is \
             {TOKEN_ENV} the wrong token?)"
        ))
    })
}

/// Makes sure the token holds the AES-256 wrapping key `label`, creating it (sensitive,
/// never extractable, kept on the token) if it does not; returns whether it was created.
///
/// Errors: the token is not configured or refuses.
pub fn ensure_key(label: &str) -> Result<bool> {
    with_session(|session| {
        if find_key(session, label)?.is_some() {
            return Ok(false);
        }
        session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::ValueLen(32.into()),
                    Attribute::Label(label.as_bytes().to_vec()),
                ],
            )
            .map_err(failed("generate the wrapping key"))?;
        Ok(true)
    })
}

/// Whether the token's wrapping key `label` can never leave it (sensitive and never
/// extractable), as [`ensure_key`] made it.
///
/// Errors: the token is not configured, refuses, or holds no such key.
pub fn key_stays_in_token(label: &str) -> Result<bool> {
    with_session(|session| {
        let key = the_key(session, label)?;
        let attributes = session
            .get_attributes(
                key,
                &[
                    cryptoki::object::AttributeType::Sensitive,
                    cryptoki::object::AttributeType::Extractable,
                ],
            )
            .map_err(failed("describe the wrapping key"))?;
        let mut sensitive = false;
        let mut extractable = true;
        for attribute in attributes {
            match attribute {
                Attribute::Sensitive(s) => sensitive = s,
                Attribute::Extractable(e) => extractable = e,
                _ => {}
            }
        }
        Ok(sensitive && !extractable)
    })
}

/// AES-256-GCM under the token's key `label`: returns ciphertext with its tag.
///
/// Errors: the token is not configured, refuses, or holds no such key.
pub fn encrypt(label: &str, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    with_session(|session| {
        let key = the_key(session, label)?;
        let mut iv = *nonce;
        let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(failed("take the nonce"))?;
        session
            .encrypt(&Mechanism::AesGcm(params), key, plaintext)
            .map_err(failed("encrypt"))
    })
}

/// Opens what [`encrypt`] sealed.
///
/// Errors: as [`encrypt`], or the ciphertext was altered or sealed under another key.
pub fn decrypt(
    label: &str,
    nonce: &[u8; 12],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    with_session(|session| {
        let key = the_key(session, label)?;
        let mut iv = *nonce;
        let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(failed("take the nonce"))?;
        session
            .decrypt(&Mechanism::AesGcm(params), key, ciphertext)
            .map(Zeroizing::new)
            .map_err(|e| {
                Error::InvalidRequest(format!(
                    "the PKCS#11 token's key {label:?} does not open it (the file was altered, \
                     or sealed by another token): {e}"
                ))
            })
    })
}
