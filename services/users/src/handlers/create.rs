//! `Users.Create`: registers a user unless the email is taken.

use switchboard::proto::users::v1::{CreateUserRequest, EmailTaken, create_user_reply::Outcome};
use switchboard::store::{Collection, StoreError, Transaction};
use switchboard::{Context, ServiceError, wire};

use crate::email::Email;
use crate::record::UserRecord;

/// The longest display name accepted, in characters.
const MAX_DISPLAY_NAME: usize = 100;

pub(super) async fn handle(
    users: &Collection<UserRecord>,
    ctx: Context,
    request: CreateUserRequest,
) -> Result<Outcome, ServiceError> {
    let email =
        Email::parse(&request.email).map_err(|why| ServiceError::invalid_field("email", why))?;
    let display_name = request.display_name.trim();
    let length = display_name.chars().count();
    if length == 0 || length > MAX_DISPLAY_NAME {
        return Err(ServiceError::invalid_field(
            "display_name",
            format!("must be 1 to {MAX_DISPLAY_NAME} characters"),
        ));
    }
    let taken = || {
        Outcome::EmailTaken(EmailTaken {
            email: email.to_string(),
        })
    };
    let existing = users
        .find(users.query().where_eq("email", email.as_str()).limit(1))
        .await?;
    if !existing.records.is_empty() {
        return Ok(taken());
    }
    let id = uuid::Uuid::now_v7().to_string();
    let record = UserRecord {
        email: email.to_string(),
        display_name: display_name.to_string(),
        created_at_ms: wire::now_millis(),
    };
    let tx = users.insert(Transaction::new(), &id, &record)?;
    let created = Outcome::Created(UserRecord::to_wire(&switchboard::store::Versioned {
        id: id.clone(),
        version: 1,
        value: record,
    }));
    match ctx.commit(tx, &created).await {
        Ok(()) => {}
        // Another request registered the same email between the lookup and the insert;
        // the unique index caught it.
        Err(StoreError::Duplicate { .. }) => return Ok(taken()),
        Err(error) => return Err(error.into()),
    }
    tracing::info!(user = id, "user created");
    Ok(created)
}
