//! `Users.Delete`: removes a user and announces `UserDeleted`; only administrators may.

use switchboard::auth::ADMIN_ROLE;
use switchboard::proto::users::v1::{
    DeleteUserRequest, UserDeleted, UserNotFound, delete_user_reply::Outcome,
};
use switchboard::store::{Collection, StoreError, Transaction};
use switchboard::{Context, ServiceError};

use crate::record::UserRecord;

pub(super) async fn handle(
    users: &Collection<UserRecord>,
    ctx: Context,
    request: DeleteUserRequest,
) -> Result<Outcome, ServiceError> {
    ctx.require_role(ADMIN_ROLE)?;
    if request.id.is_empty() {
        return Err(ServiceError::invalid_field("id", "is required"));
    }
    let not_found = |id: String| Outcome::NotFound(UserNotFound { id });
    let Some(user) = users.get(&request.id).await? else {
        return Ok(not_found(request.id));
    };
    let event = UserDeleted {
        id: user.id.clone(),
    };
    // The deletion and its event commit together: services holding the user's data
    // (todos) delete it when the event reaches them, whenever they are up.
    let tx = users.delete(Transaction::new(), &user.id, Some(user.version));
    let tx = ctx.announce(tx, &event)?;
    let deleted = Outcome::Deleted(event);
    match ctx.commit(tx, &deleted).await {
        Ok(()) => {
            tracing::info!(user = user.id, "user deleted");
            Ok(deleted)
        }
        // Deleted by a concurrent request: the caller's intent holds.
        Err(StoreError::NotFound { .. }) => Ok(not_found(request.id)),
        Err(error) => Err(error.into()),
    }
}
