//! The `TodosHandler` and `TodosConsumer`: one file per rpc or consumed event, each a
//! function over the todos collection.

mod complete;
mod create;
mod delete;
mod delete_owned;
mod get;
mod list_by_owner;
mod list_by_owners;

use switchboard::proto::todos::v1::{
    CompleteTodoRequest, CreateTodoRequest, DeleteTodoRequest, GetTodoRequest,
    ListTodosByOwnerReply, ListTodosByOwnerRequest, ListTodosByOwnersReply,
    ListTodosByOwnersRequest, TodosConsumer, TodosHandler, complete_todo_reply, create_todo_reply,
    delete_todo_reply, get_todo_reply,
};
use switchboard::proto::users::v1::UserDeleted;
use switchboard::store::Collection;
use switchboard::{Context, EventContext, ServiceError};

use crate::record::TodoRecord;

/// The most owners one `ListByOwners` request may name.
pub const MAX_BATCH: usize = 1000;

/// The todos service's handler: state shared by every request.
pub struct Todos {
    todos: Collection<TodoRecord>,
}

impl Todos {
    /// A handler over the `todos` collection.
    pub fn new(todos: Collection<TodoRecord>) -> Self {
        Self { todos }
    }
}

impl TodosHandler for Todos {
    async fn create(
        &self,
        ctx: Context,
        request: CreateTodoRequest,
    ) -> Result<create_todo_reply::Outcome, ServiceError> {
        create::handle(&self.todos, ctx, request).await
    }

    async fn get(
        &self,
        ctx: Context,
        request: GetTodoRequest,
    ) -> Result<get_todo_reply::Outcome, ServiceError> {
        get::handle(&self.todos, ctx, request).await
    }

    async fn list_by_owner(
        &self,
        ctx: Context,
        request: ListTodosByOwnerRequest,
    ) -> Result<ListTodosByOwnerReply, ServiceError> {
        list_by_owner::handle(&self.todos, ctx, request).await
    }

    async fn list_by_owners(
        &self,
        ctx: Context,
        request: ListTodosByOwnersRequest,
    ) -> Result<ListTodosByOwnersReply, ServiceError> {
        list_by_owners::handle(&self.todos, ctx, request).await
    }

    async fn complete(
        &self,
        ctx: Context,
        request: CompleteTodoRequest,
    ) -> Result<complete_todo_reply::Outcome, ServiceError> {
        complete::handle(&self.todos, ctx, request).await
    }

    async fn delete(
        &self,
        ctx: Context,
        request: DeleteTodoRequest,
    ) -> Result<delete_todo_reply::Outcome, ServiceError> {
        delete::handle(&self.todos, ctx, request).await
    }
}

impl TodosConsumer for Todos {
    async fn delete_owned_todos(
        &self,
        ctx: EventContext,
        event: UserDeleted,
    ) -> Result<(), ServiceError> {
        delete_owned::handle(&self.todos, ctx, event).await
    }
}

/// Refuses an empty id field.
fn require(field: &str, value: &str) -> Result<(), ServiceError> {
    if value.trim().is_empty() {
        return Err(ServiceError::invalid_field(field, "is required"));
    }
    Ok(())
}
