//! Bearer tokens mapped to users. Tokens are kept only as SHA-256 hashes and
//! never logged.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::routes::AppState;

/// Known tokens, by hash.
#[derive(Debug, Default)]
pub struct Tokens {
    users: HashMap<[u8; 32], String>,
}

impl Tokens {
    /// Builds the table from token → user pairs.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        Tokens {
            users: pairs
                .into_iter()
                .map(|(token, user)| (hash(token), user.clone()))
                .collect(),
        }
    }

    /// The user a token belongs to.
    pub fn user(&self, token: &str) -> Option<&str> {
        self.users.get(&hash(token)).map(String::as_str)
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct User(pub String);

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_credentials",
                "Sign in first: send the header Authorization: Bearer <token>.",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        match token.and_then(|t| state.tokens.user(t)) {
            Some(user) => Ok(User(user.to_owned())),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Your sign-in has expired or is not valid; sign in again to get a new token.",
            )),
        }
    }
}

/// Reads a tokens file: one `TOKEN=USER` (or `TOKEN USER`) per line;
/// blank lines and lines starting with `#` are skipped.
pub fn parse_tokens_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_pair(line) {
            Some(pair) => pairs.push(pair),
            None => {
                return Err(format!(
                    "line {} is not TOKEN=USER (or TOKEN USER)",
                    index + 1
                ))
            }
        }
    }
    Ok(pairs)
}

/// Splits `TOKEN=USER` or `TOKEN USER`; both parts must be non-empty.
pub fn parse_pair(text: &str) -> Option<(String, String)> {
    let (token, user) = text
        .split_once('=')
        .or_else(|| text.split_once(char::is_whitespace))?;
    let (token, user) = (token.trim(), user.trim());
    (!token.is_empty() && !user.is_empty()).then(|| (token.to_owned(), user.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_files_read_both_separators() {
        let pairs = parse_tokens_file("# demo\nabc=alice\n\nxyz bob\n").unwrap();
        assert_eq!(
            pairs,
            vec![("abc".into(), "alice".into()), ("xyz".into(), "bob".into())]
        );
        assert!(parse_tokens_file("lonely").unwrap_err().contains("line 1"));
    }

    #[test]
    fn lookups_go_through_hashes() {
        let (t, u) = ("secret".to_string(), "alice".to_string());
        let tokens = Tokens::new([(&t, &u)]);
        assert_eq!(tokens.user("secret"), Some("alice"));
        assert_eq!(tokens.user("Secret"), None);
    }
}
