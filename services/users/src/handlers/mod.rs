//! The `UsersHandler`: one file per rpc, each a function over the users collection.

mod create;
mod delete;
mod get;
mod get_many;
mod list;

use switchboard::proto::users::v1::{
    CreateUserRequest, DeleteUserRequest, GetUserRequest, GetUsersReply, GetUsersRequest,
    ListUsersReply, ListUsersRequest, UsersHandler, create_user_reply, delete_user_reply,
    get_user_reply,
};
use switchboard::store::Collection;
use switchboard::{Context, ServiceError};

use crate::record::UserRecord;

/// The most ids one `GetMany` request may carry.
pub const MAX_BATCH: usize = 1000;

/// The users service's handler: state shared by every request.
pub struct Users {
    users: Collection<UserRecord>,
}

impl Users {
    /// A handler over the `users` collection.
    pub fn new(users: Collection<UserRecord>) -> Self {
        Self { users }
    }
}

impl UsersHandler for Users {
    async fn create(
        &self,
        ctx: Context,
        request: CreateUserRequest,
    ) -> Result<create_user_reply::Outcome, ServiceError> {
        create::handle(&self.users, ctx, request).await
    }

    async fn get(
        &self,
        ctx: Context,
        request: GetUserRequest,
    ) -> Result<get_user_reply::Outcome, ServiceError> {
        get::handle(&self.users, ctx, request).await
    }

    async fn get_many(
        &self,
        ctx: Context,
        request: GetUsersRequest,
    ) -> Result<GetUsersReply, ServiceError> {
        get_many::handle(&self.users, ctx, request).await
    }

    async fn list(
        &self,
        ctx: Context,
        request: ListUsersRequest,
    ) -> Result<ListUsersReply, ServiceError> {
        list::handle(&self.users, ctx, request).await
    }

    async fn delete(
        &self,
        ctx: Context,
        request: DeleteUserRequest,
    ) -> Result<delete_user_reply::Outcome, ServiceError> {
        delete::handle(&self.users, ctx, request).await
    }
}
