//! The booking saga: reserve the seats, charge the customer, sell the seats.
//!
//! | step            | action              | compensation       |
//! |-----------------|---------------------|--------------------|
//! | `reserve_seats` | `tickets.Reserve`   | `tickets.Release`  |
//! | `charge`        | `billing.Charge`    | `billing.Refund`   |
//! | `confirm_seats` | `tickets.Confirm`   | none (the pivot)   |
//!
//! Every call is keyed by the booking id (tickets and billing keep one reservation and one
//! charge per booking) and by the saga's step key. Selling the seats is retried past the
//! saga's deadline until tickets decides: once paid for, seats are either sold or — when
//! the hold expired meanwhile — the charge is refunded; never refunded while sold.
//!
//! Each transition announces `BookingChanged`; the end announces `BookingConfirmed` or
//! `BookingCancelled` as well.

use switchboard::BusError;
use switchboard::proto::billing::v1::{BillingClient, ChargeRequest, RefundRequest, charge_reply};
use switchboard::proto::bookings::v1::{BookingCancelled, BookingChanged, BookingConfirmed};
use switchboard::proto::tickets::v1::{
    ConfirmSeatsRequest, ReleaseSeatsRequest, ReserveSeatsRequest, TicketsClient,
    confirm_seats_reply, release_seats_reply, reserve_seats_reply,
};
use switchboard::saga::{Announcer, Saga, SagaStatus, Step, StepCall, StepOutcome};
use switchboard::service::ServiceError;
use switchboard::store::Transaction;

use crate::record::{BookingData, BookingState, to_wire};

/// The booking saga.
pub struct BookingSaga {
    steps: Vec<Box<dyn Step<BookingData>>>,
}

impl BookingSaga {
    /// The saga with its three steps.
    pub fn new() -> Self {
        Self {
            steps: vec![
                Box::new(ReserveSeats),
                Box::new(Charge),
                Box::new(ConfirmSeats),
            ],
        }
    }
}

impl Default for BookingSaga {
    fn default() -> Self {
        Self::new()
    }
}

impl Saga for BookingSaga {
    type Data = BookingData;

    fn name(&self) -> &'static str {
        "booking"
    }

    fn steps(&self) -> &[Box<dyn Step<BookingData>>] {
        &self.steps
    }

    fn announce(
        &self,
        id: &str,
        state: &BookingState,
        tx: Transaction,
        announcer: &Announcer,
    ) -> Result<Transaction, ServiceError> {
        let id = id.to_owned();
        let booking = to_wire(&id, state);
        let mut tx = announcer.announce(
            tx,
            &BookingChanged {
                id: id.clone(),
                booking: Some(booking),
            },
        )?;
        let data = &state.data;
        match state.status {
            SagaStatus::Completed => {
                tx = announcer.announce(
                    tx,
                    &BookingConfirmed {
                        booking_id: id,
                        user_id: data.user_id.clone(),
                        show_id: data.show_id.clone(),
                        seats: data.seats,
                        amount_cents: data.amount_cents,
                    },
                )?;
            }
            SagaStatus::Cancelled => {
                tx = announcer.announce(
                    tx,
                    &BookingCancelled {
                        booking_id: id,
                        user_id: data.user_id.clone(),
                        show_id: data.show_id.clone(),
                        reason: state.reason.clone().unwrap_or_default(),
                    },
                )?;
            }
            SagaStatus::Running | SagaStatus::Compensating => {}
        }
        Ok(tx)
    }
}

/// Holds the seats: `tickets.Reserve`, undone by `tickets.Release`.
struct ReserveSeats;

#[async_trait::async_trait]
impl Step<BookingData> for ReserveSeats {
    fn name(&self) -> &'static str {
        "reserve_seats"
    }

    async fn run(
        &self,
        call: &StepCall,
        data: &BookingData,
    ) -> Result<StepOutcome<BookingData>, BusError> {
        let request = ReserveSeatsRequest {
            booking_id: call.saga_id().to_owned(),
            show_id: data.show_id.clone(),
            seats: data.seats,
        };
        let tickets = TicketsClient::new(call.bus());
        Ok(match tickets.reserve_with(request, call.options()).await? {
            reserve_seats_reply::Outcome::Reserved(reservation) => StepOutcome::Done(BookingData {
                amount_cents: reservation
                    .price_cents
                    .saturating_mul(u64::from(reservation.seats)),
                ..data.clone()
            }),
            reserve_seats_reply::Outcome::SoldOut(sold_out) => StepOutcome::Failed(format!(
                "sold out: {} seats asked, {} left",
                sold_out.requested, sold_out.available
            )),
            reserve_seats_reply::Outcome::NotFound(_) => {
                StepOutcome::Failed("the show does not exist".into())
            }
            reserve_seats_reply::Outcome::Closed(_) => {
                StepOutcome::Failed("the booking's seats were already released".into())
            }
        })
    }

    async fn compensate(&self, call: &StepCall, _data: &BookingData) -> Result<(), BusError> {
        let request = ReleaseSeatsRequest {
            booking_id: call.saga_id().to_owned(),
        };
        let tickets = TicketsClient::new(call.bus());
        match tickets.release_with(request, call.options()).await? {
            release_seats_reply::Outcome::Released(_) => {}
            release_seats_reply::Outcome::AlreadyConfirmed(_) => tracing::error!(
                booking = call.saga_id(),
                "the seats to release were already sold; they stay sold"
            ),
        }
        Ok(())
    }
}

/// Takes the money: `billing.Charge`, undone by `billing.Refund`.
struct Charge;

#[async_trait::async_trait]
impl Step<BookingData> for Charge {
    fn name(&self) -> &'static str {
        "charge"
    }

    async fn run(
        &self,
        call: &StepCall,
        data: &BookingData,
    ) -> Result<StepOutcome<BookingData>, BusError> {
        if data.amount_cents == 0 {
            return Ok(StepOutcome::Done(data.clone()));
        }
        let request = ChargeRequest {
            booking_id: call.saga_id().to_owned(),
            customer_id: data.user_id.clone(),
            amount_cents: data.amount_cents,
        };
        let billing = BillingClient::new(call.bus());
        Ok(match billing.charge_with(request, call.options()).await? {
            charge_reply::Outcome::Charged(_) => StepOutcome::Done(data.clone()),
            charge_reply::Outcome::Declined(declined) => {
                StepOutcome::Failed(format!("payment declined: {}", declined.reason))
            }
        })
    }

    async fn compensate(&self, call: &StepCall, data: &BookingData) -> Result<(), BusError> {
        if data.amount_cents == 0 {
            return Ok(());
        }
        let request = RefundRequest {
            booking_id: call.saga_id().to_owned(),
        };
        BillingClient::new(call.bus())
            .refund_with(request, call.options())
            .await?;
        Ok(())
    }
}

/// Sells the held seats: `tickets.Confirm`. The pivot: retried until decided.
struct ConfirmSeats;

#[async_trait::async_trait]
impl Step<BookingData> for ConfirmSeats {
    fn name(&self) -> &'static str {
        "confirm_seats"
    }

    async fn run(
        &self,
        call: &StepCall,
        data: &BookingData,
    ) -> Result<StepOutcome<BookingData>, BusError> {
        let request = ConfirmSeatsRequest {
            booking_id: call.saga_id().to_owned(),
        };
        let tickets = TicketsClient::new(call.bus());
        Ok(match tickets.confirm_with(request, call.options()).await? {
            confirm_seats_reply::Outcome::Confirmed(_) => StepOutcome::Done(data.clone()),
            confirm_seats_reply::Outcome::Closed(_) => {
                StepOutcome::Failed("the seats were held too long and went back on sale".into())
            }
        })
    }

    async fn compensate(&self, _call: &StepCall, _data: &BookingData) -> Result<(), BusError> {
        // Sold seats are not unsold; the step is retried until decided, so it is undone
        // only after a final refusal, when nothing was sold.
        Ok(())
    }

    fn retried_past_deadline(&self) -> bool {
        true
    }
}
