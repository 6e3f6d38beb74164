//! Static files under ROOT (placeholder; see the files helper).
