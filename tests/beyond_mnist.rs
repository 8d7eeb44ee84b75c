//! The instrument on data it was not tuned on: grey texture patches, where the class is a texture, not a shape.

mod common;

use common::*;

/// Writes the texture dataset to $SYNTH_TEXTURE_OUT (for trying settings by hand: see the README).
#[test]
#[ignore]
fn write_texture_dataset() {
    let out = std::env::var("SYNTH_TEXTURE_OUT").expect("set SYNTH_TEXTURE_OUT");
    texture_dataset(std::path::Path::new(&out), 64);
}
