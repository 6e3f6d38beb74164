//! The mio token space of the reactor, in one place: listeners from 0, then the signal pipe,
//! the waker and the watches of the data directory and of ROOT at the very top, connections from [`CONN_BASE`] (slab key plus the base), and the
//! pipes of CGI scripts from [`PIPE_BASE`] (four per connection), above every connection token.
use mio::Token;

/// Token of the signal pipe.
pub const SIGNAL: Token = Token(usize::MAX - 1);
/// Token of the waker the store's threads (fsync, record counting) use to report.
pub const WAKER: Token = Token(usize::MAX - 2);
/// Token of the store's inotify watch on the data directory.
pub const DATA_WATCH: Token = Token(usize::MAX - 3);
/// Token of the open-file cache's inotify watch on ROOT's directories.
pub const SITE_WATCH: Token = Token(usize::MAX - 4);
/// Connection tokens are slab keys plus this offset; listener tokens are below it.
pub const CONN_BASE: usize = 1024;
/// CGI pipe tokens: `PIPE_BASE + key * PIPES_PER_CONNECTION + pipe`.
pub const PIPE_BASE: usize = 1 << 40;
/// Token slots reserved for the pipes of one connection's CGI script.
pub const PIPES_PER_CONNECTION: usize = 4;

/// What a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Listener(usize),
    Signal,
    Waker,
    DataWatch,
    SiteWatch,
    /// A connection's socket, by slab key.
    Connection(usize),
    /// A pipe of the CGI script run by the connection with this slab key.
    CgiPipe(usize),
}

/// The token of the connection with slab key `key`.
pub fn connection(key: usize) -> Token {
    Token(CONN_BASE + key)
}

/// The first token of the pipes of the CGI script run by the connection with slab key `key`.
pub fn cgi_pipe_base(key: usize) -> usize {
    PIPE_BASE + key * PIPES_PER_CONNECTION
}

/// What `token` names.
pub fn name(token: Token) -> Named {
    match token {
        SIGNAL => Named::Signal,
        WAKER => Named::Waker,
        DATA_WATCH => Named::DataWatch,
        SITE_WATCH => Named::SiteWatch,
        Token(t) if t < CONN_BASE => Named::Listener(t),
        Token(t) if t >= PIPE_BASE => Named::CgiPipe((t - PIPE_BASE) / PIPES_PER_CONNECTION),
        Token(t) => Named::Connection(t - CONN_BASE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_token_names_itself() {
        assert_eq!(name(Token(3)), Named::Listener(3));
        assert_eq!(name(SIGNAL), Named::Signal);
        assert_eq!(name(WAKER), Named::Waker);
        assert_eq!(name(DATA_WATCH), Named::DataWatch);
        assert_eq!(name(SITE_WATCH), Named::SiteWatch);
        assert_eq!(name(connection(0)), Named::Connection(0));
        assert_eq!(name(connection(70_000)), Named::Connection(70_000));
        for pipe in 0..PIPES_PER_CONNECTION {
            let t = Token(cgi_pipe_base(9) + pipe);
            assert_eq!(name(t), Named::CgiPipe(9));
        }
        assert!(
            cgi_pipe_base(0) > CONN_BASE + (1 << 32),
            "pipes above every connection"
        );
    }
}
