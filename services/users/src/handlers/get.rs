//! `Users.Get`: one user by id.

use switchboard::proto::users::v1::{GetUserRequest, UserNotFound, get_user_reply::Outcome};
use switchboard::store::Collection;
use switchboard::{Context, ServiceError};

use crate::record::UserRecord;

pub(super) async fn handle(
    users: &Collection<UserRecord>,
    _ctx: Context,
    request: GetUserRequest,
) -> Result<Outcome, ServiceError> {
    if request.id.is_empty() {
        return Err(ServiceError::invalid_field("id", "is required"));
    }
    Ok(match users.get(&request.id).await? {
        Some(user) => Outcome::Found(UserRecord::to_wire(&user)),
        None => Outcome::NotFound(UserNotFound { id: request.id }),
    })
}
