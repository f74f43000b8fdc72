//! Every AWS permission rule as a pure function over model values.
