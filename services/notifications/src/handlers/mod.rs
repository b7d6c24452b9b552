//! The `NotificationsHandler` and `NotificationsConsumer`: one file per rpc or consumed
//! event; `notify.rs` is the delivery flow both consumers share (see the crate's
//! documentation for why it is safe to run any number of times).

mod list;
mod notify;
mod send_cancellation;
mod send_confirmation;

use switchboard::proto::bookings::v1::{BookingCancelled, BookingConfirmed};
use switchboard::proto::notifications::v1::{
    ListNotificationsReply, ListNotificationsRequest, NotificationsConsumer, NotificationsHandler,
};
use switchboard::store::Collection;
use switchboard::{Context, EventContext, ServiceError};

use crate::mailer::Mailer;
use crate::record::NotificationRecord;

/// The notifications service's handler: state shared by every request and event.
pub struct Notifications {
    notify: notify::Notifier,
}

impl Notifications {
    /// A handler over the `notifications` collection, sending through `mailer` (none:
    /// notifications are only recorded).
    pub fn new(notifications: Collection<NotificationRecord>, mailer: Option<Mailer>) -> Self {
        Self {
            notify: notify::Notifier::new(notifications, mailer),
        }
    }
}

impl NotificationsHandler for Notifications {
    async fn list(
        &self,
        ctx: Context,
        request: ListNotificationsRequest,
    ) -> Result<ListNotificationsReply, ServiceError> {
        list::handle(self.notify.notifications(), ctx, request).await
    }
}

impl NotificationsConsumer for Notifications {
    async fn send_confirmation(
        &self,
        ctx: EventContext,
        event: BookingConfirmed,
    ) -> Result<(), ServiceError> {
        send_confirmation::handle(&self.notify, ctx, event).await
    }

    async fn send_cancellation(
        &self,
        ctx: EventContext,
        event: BookingCancelled,
    ) -> Result<(), ServiceError> {
        send_cancellation::handle(&self.notify, ctx, event).await
    }
}
