// Every GraphQL operation the app sends.
import { gql } from '@apollo/client';

export const TODO_FIELDS = gql`
  fragment TodoFields on Todo {
    id
    ownerId
    title
    completed
    createdAt
    completedAt
  }
`;

export const TODOS = gql`
  query Todos($ownerId: ID!, $first: Int, $after: String) {
    todos(ownerId: $ownerId, first: $first, after: $after) {
      edges {
        node {
          ...TodoFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
  ${TODO_FIELDS}
`;

export const CREATE_TODO = gql`
  mutation CreateTodo($ownerId: ID!, $title: String!) {
    createTodo(ownerId: $ownerId, title: $title) {
      __typename
      ... on Todo {
        ...TodoFields
      }
    }
  }
  ${TODO_FIELDS}
`;

export const COMPLETE_TODO = gql`
  mutation CompleteTodo($id: ID!) {
    completeTodo(id: $id) {
      __typename
      ... on Todo {
        ...TodoFields
      }
      ... on TodoNotFound {
        id
      }
    }
  }
  ${TODO_FIELDS}
`;

export const DELETE_TODO = gql`
  mutation DeleteTodo($id: ID!) {
    deleteTodo(id: $id) {
      __typename
      ... on TodoDeleted {
        id
      }
      ... on TodoNotFound {
        id
      }
    }
  }
`;

export const TODO_CHANGED = gql`
  subscription TodoChanged($ownerId: ID) {
    todoChanged(ownerId: $ownerId) {
      id
      ownerId
      change
      todo {
        ...TodoFields
      }
    }
  }
  ${TODO_FIELDS}
`;

export const SHOW_FIELDS = gql`
  fragment ShowFields on Show {
    id
    name
    capacity
    reserved
    sold
    priceCents
    createdAt
  }
`;

export const SHOWS = gql`
  query Shows($first: Int, $after: String) {
    shows(first: $first, after: $after) {
      edges {
        node {
          ...ShowFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
  ${SHOW_FIELDS}
`;

export const CREATE_SHOW = gql`
  mutation CreateShow($name: String!, $capacity: Int!, $priceCents: UInt64!) {
    createShow(name: $name, capacity: $capacity, priceCents: $priceCents) {
      __typename
      ... on Show {
        ...ShowFields
      }
    }
  }
  ${SHOW_FIELDS}
`;

export const BOOKING_FIELDS = gql`
  fragment BookingFields on Booking {
    id
    userId
    showId
    seats
    status
    reason
    amountCents
    compensating
    createdAt
    updatedAt
    revision
  }
`;

export const CREATE_BOOKING = gql`
  mutation CreateBooking($showId: ID!, $seats: Int!) {
    createBooking(showId: $showId, seats: $seats) {
      __typename
      ... on Booking {
        ...BookingFields
      }
    }
  }
  ${BOOKING_FIELDS}
`;

export const BOOKING_PROGRESS = gql`
  subscription BookingProgress($id: ID!) {
    bookingProgress(id: $id) {
      ...BookingFields
    }
  }
  ${BOOKING_FIELDS}
`;
