//! One function per subcommand: resolve settings, build the components, run.

mod candles;
mod replay;
mod serve;

pub use candles::candles;
pub use replay::replay;
pub use serve::serve;
