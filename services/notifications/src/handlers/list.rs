//! `Notifications.List`: the notifications of one booking, or all of them, ordered by id,
//! one page at a time. Administrators only.

use switchboard::auth::ADMIN_ROLE;
use switchboard::proto::notifications::v1::{ListNotificationsReply, ListNotificationsRequest};
use switchboard::store::Collection;
use switchboard::{Context, ServiceError};

use crate::record::NotificationRecord;

pub(super) async fn handle(
    notifications: &Collection<NotificationRecord>,
    ctx: Context,
    request: ListNotificationsRequest,
) -> Result<ListNotificationsReply, ServiceError> {
    ctx.require_role(ADMIN_ROLE)?;
    let mut query = notifications.query().page(request.page.as_ref());
    let booking_id = request.booking_id.trim();
    if !booking_id.is_empty() {
        query = query.where_eq("booking_id", booking_id);
    }
    let found = notifications.find(query).await?;
    Ok(ListNotificationsReply {
        notifications: found
            .records
            .iter()
            .map(NotificationRecord::to_wire)
            .collect(),
        page: Some(found.info()),
    })
}
