//! Injected faults: overload, latency and declines, set from the settings or, when fault
//! injection is on, by an administrator through SetFaults.

use std::time::Duration;

use billing::Faults;
use switchboard::BusError;
use switchboard::CallOptions;
use switchboard::proto::billing::v1::{
    self as wire, ChargeState, GetChargeRequest, SetFaultsRequest, charge_reply, get_charge_reply,
};
use switchboard::testing::eventually;

use crate::helpers::{charge_request, spawn_app, spawn_app_with};

fn set(faults: wire::Faults) -> SetFaultsRequest {
    SetFaultsRequest {
        faults: Some(faults),
    }
}

#[tokio::test]
async fn an_overloaded_billing_refuses_charges_with_503_but_still_refunds() {
    let app = spawn_app_with(
        Faults {
            overloaded: true,
            ..Faults::default()
        },
        false,
    )
    .await;

    let refused = app.saga.charge(charge_request("b1", 1500)).await;
    let refunded = app.refund("b1").await;

    assert!(
        matches!(refused, Err(BusError::Overloaded { .. })),
        "{refused:?}"
    );
    assert_eq!(
        refunded.state(),
        ChargeState::Voided,
        "the refused charge stored nothing; the refund voids the booking"
    );
}

#[tokio::test]
async fn a_slow_billing_outlasts_a_short_deadline_and_charges_anyway() {
    let app = spawn_app_with(
        Faults {
            latency: Duration::from_millis(500),
            ..Faults::default()
        },
        false,
    )
    .await;

    let impatient = app
        .saga
        .charge_with(
            charge_request("b1", 1500),
            CallOptions::default().timeout(Duration::from_millis(100)),
        )
        .await;

    assert!(
        matches!(impatient, Err(BusError::Timeout { .. })),
        "{impatient:?}"
    );
    // The handler is not cancelled at the deadline: the charge lands late, once.
    let landed = eventually(Duration::from_secs(10), || async {
        match app
            .admin
            .get_charge(GetChargeRequest {
                booking_id: "b1".into(),
            })
            .await
        {
            Ok(get_charge_reply::Outcome::Found(charge)) => Some(charge),
            _ => None,
        }
    })
    .await
    .expect("the slow charge is stored");
    assert_eq!(landed.state(), ChargeState::Charged);
    let repeat = app.charge("b1", 1500).await;
    assert_eq!(repeat, charge_reply::Outcome::Charged(landed));
}

#[tokio::test]
async fn set_faults_is_refused_while_fault_injection_is_off() {
    let app = spawn_app().await;

    let refused = app
        .admin
        .set_faults(set(wire::Faults {
            overloaded: true,
            ..wire::Faults::default()
        }))
        .await;

    match refused {
        Err(BusError::Service {
            code: 403, message, ..
        }) => assert!(message.contains("BILLING_FAULT_INJECTION"), "{message}"),
        other => panic!("expected 403, got {other:?}"),
    }
    assert!(
        matches!(
            app.charge("b1", 100).await,
            charge_reply::Outcome::Charged(_)
        ),
        "nothing changed"
    );
}

#[tokio::test]
async fn only_an_administrator_sets_faults() {
    let app = spawn_app_with(Faults::default(), true).await;

    for (client, who) in [(&app.saga, "the saga"), (&app.user, "a user")] {
        let refused = client.set_faults(set(wire::Faults::default())).await;
        assert!(
            matches!(refused, Err(BusError::Service { code: 403, .. })),
            "{who}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn an_administrator_changes_what_charge_does_while_injection_is_on() {
    let app = spawn_app_with(Faults::default(), true).await;

    let declining = wire::Faults {
        decline_rate: 1.0,
        ..wire::Faults::default()
    };
    let reply = app
        .admin
        .set_faults(set(declining))
        .await
        .expect("set_faults");
    assert_eq!(reply.faults, Some(declining));
    assert!(matches!(
        app.charge("b1", 100).await,
        charge_reply::Outcome::Declined(_)
    ));

    app.admin
        .set_faults(set(wire::Faults {
            overloaded: true,
            ..wire::Faults::default()
        }))
        .await
        .expect("set_faults");
    let overloaded = app.saga.charge(charge_request("b2", 100)).await;
    assert!(
        matches!(overloaded, Err(BusError::Overloaded { .. })),
        "{overloaded:?}"
    );

    let cleared = app
        .admin
        .set_faults(SetFaultsRequest { faults: None })
        .await
        .expect("set_faults");
    assert_eq!(cleared.faults, Some(wire::Faults::default()));
    assert!(matches!(
        app.charge("b3", 100).await,
        charge_reply::Outcome::Charged(_)
    ));

    let invalid = app
        .admin
        .set_faults(set(wire::Faults {
            decline_rate: 1.5,
            ..wire::Faults::default()
        }))
        .await;
    match invalid {
        Err(BusError::Service {
            code: 400, details, ..
        }) => assert_eq!(details[0].field, "faults.decline_rate"),
        other => panic!("expected 400, got {other:?}"),
    }
}
