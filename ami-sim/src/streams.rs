//! Independent random streams derived from the seed.
//!
//! Each kind of randomness draws from its own ChaCha stream of the same seed, so drawing one
//! kind never shifts another: a run whose throttled calls are retried until they succeed gets
//! exactly the resource ids of the fault-free run with the same seed.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a stream is used for; its number is the ChaCha stream id.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    /// Resource ids: the id counter's offset, KMS key ids, grant ids.
    Ids = 0,
    /// Whether a call is throttled or fails with an internal error.
    CallFaults = 1,
    /// Whether a new image ends `failed`.
    ImageOutcomes = 2,
}

/// The simulator's random streams, one per purpose.
#[derive(Debug, Clone)]
pub(crate) struct Streams {
    ids: ChaCha8Rng,
    call_faults: ChaCha8Rng,
    image_outcomes: ChaCha8Rng,
}

fn stream(seed: u64, purpose: Purpose) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(purpose as u64);
    rng
}

impl Streams {
    /// The streams of `seed`. The id stream is the seed's stream 0, so ids are those the
    /// simulator always gave for this seed.
    pub fn new(seed: u64) -> Self {
        Streams {
            ids: stream(seed, Purpose::Ids),
            call_faults: stream(seed, Purpose::CallFaults),
            image_outcomes: stream(seed, Purpose::ImageOutcomes),
        }
    }

    /// 128 random bits for resource ids.
    pub fn id_bits(&mut self) -> u128 {
        (u128::from(self.ids.next_u64()) << 64) | u128::from(self.ids.next_u64())
    }

    /// `true` with probability `p`, for call faults (no draw when `p` is zero).
    pub fn call_fault(&mut self, p: f64) -> bool {
        p > 0.0 && self.call_faults.random::<f64>() < p
    }

    /// `true` with probability `p`, for image failures (no draw when `p` is zero).
    pub fn image_failure(&mut self, p: f64) -> bool {
        p > 0.0 && self.image_outcomes.random::<f64>() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drawing faults never moves the id stream.
    #[test]
    fn fault_draws_leave_ids_alone() {
        let mut a = Streams::new(9);
        let mut b = Streams::new(9);
        for _ in 0..100 {
            b.call_fault(0.5);
            b.image_failure(0.5);
        }
        assert_eq!(a.id_bits(), b.id_bits());
        assert_ne!(Streams::new(9).id_bits(), Streams::new(10).id_bits());
    }
}
