//! Proto comments as GraphQL descriptions: the comment above a message, field, enum, enum
//! value or rpc (protobuf's "leading comment") is what GraphQL tools show for its type,
//! field, argument or value. The descriptor set carries them (`build.rs` compiles it with
//! source info); an element without a comment gets no description.

use prost_reflect::{
    EnumDescriptor, EnumValueDescriptor, FieldDescriptor, FileDescriptor, MessageDescriptor,
    MethodDescriptor,
};

/// A proto element that may carry a comment.
pub trait Documented {
    /// The comment above the element, each line stripped of the space after `//`, or
    /// `None` when there is none.
    fn doc(&self) -> Option<String>;
}

macro_rules! documented {
    ($($descriptor:ty),*) => {$(
        impl Documented for $descriptor {
            fn doc(&self) -> Option<String> {
                leading_comment(&self.parent_file(), self.path())
            }
        }
    )*};
}

documented!(
    MessageDescriptor,
    FieldDescriptor,
    EnumDescriptor,
    EnumValueDescriptor,
    MethodDescriptor
);

/// The comment above entry `index` of the repeated message option `extension` (its field
/// number) of `message`, e.g. a `(switchboard.v1.relation)`.
pub fn message_option(message: &MessageDescriptor, extension: u32, index: usize) -> Option<String> {
    /// `MessageOptions`' field number in `DescriptorProto`.
    const OPTIONS: i32 = 7;
    let mut path = message.path().to_vec();
    path.extend([
        OPTIONS,
        i32::try_from(extension).ok()?,
        i32::try_from(index).ok()?,
    ]);
    leading_comment(&message.parent_file(), &path)
}

/// The leading comment of the element at `path` in `file`.
fn leading_comment(file: &FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    clean(location.leading_comments.as_deref()?)
}

/// `text` as a description: the one space after each `//` removed, surrounding blank
/// lines and trailing spaces dropped.
fn clean(text: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect();
    let text = lines.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_lose_their_comment_spacing() {
        assert_eq!(
            clean(" The owner's id.\n Second line.  \n").as_deref(),
            Some("The owner's id.\nSecond line.")
        );
        assert_eq!(clean("  indented\n").as_deref(), Some("indented"));
        assert_eq!(clean(" \n \n"), None);
    }

    #[test]
    fn the_contracts_carry_their_comments() {
        let pool = prost_reflect::DescriptorPool::decode(switchboard::proto::DESCRIPTOR_SET)
            .expect("the descriptor set decodes");
        let todo = pool.get_message_by_name("todos.v1.Todo").expect("Todo");
        assert_eq!(todo.doc().as_deref(), Some("A thing to do."));
        let title = todo.get_field_by_name("title").expect("title");
        assert_eq!(title.doc().as_deref(), Some("1 to 500 characters."));
    }
}
