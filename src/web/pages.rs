//! See [`super`].

use axum::Router;

use super::AppState;

/// The routes of this part.
pub fn routes() -> Router<AppState> {
    Router::new()
}
