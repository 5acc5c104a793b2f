//! Many datagrams per system call: `sendmmsg` and `recvmmsg` on the transport's pooled
//! UDP sockets, through the `nix` crate.
//!
//! With thousands of queries in flight, one `sendto` and one `recvfrom` per datagram made
//! the system calls, and the wake-up of the server's thread at each `sendto` (the sender
//! is often switched out right there), a third of a check's CPU time. A send task per
//! socket now sends what the queries queued since it last ran in one call, and the
//! receive task reads what has arrived in one call. Each datagram is still sent to its
//! own server, once, exactly as built: only the number of calls changes.
//!
//! Where the calls do not exist (not Linux, Android, FreeBSD or NetBSD: the build script
//! sets `cfg(mmsg)` where they do), the same functions send and receive one datagram per
//! call.

use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

/// Datagrams handed to the kernel in one call at most.
pub(super) const SEND_BATCH: usize = 64;
/// Datagrams read in one call at most.
const RECEIVE_BATCH: usize = 8;
/// The size of each receive buffer: the largest UDP payload, so nothing is ever cut.
const DATAGRAM_MAX: usize = 65_535;

/// The receive buffers of one socket, and where the last call put what it read. Made when
/// the socket first has something to read: a socket of an address family that is never
/// used (IPv6 on a host without it, or with `--no-ipv6`) costs no memory.
pub(super) struct Inbox {
    buffers: Vec<Vec<u8>>,
    /// Length and sender of each datagram read by the last call, in buffer order.
    received: Vec<(usize, SocketAddr)>,
}

impl Inbox {
    pub(super) fn new() -> Self {
        Self {
            // Zeroed memory from the allocator: pages are touched only as datagrams fill them.
            buffers: (0..RECEIVE_BATCH).map(|_| vec![0; DATAGRAM_MAX]).collect(),
            received: Vec::with_capacity(RECEIVE_BATCH),
        }
    }

    /// Whether a call that read `count` datagrams left the socket empty: it did not fill
    /// the buffers. (Reading one datagram per call, nothing tells.)
    pub(super) fn drained(&self, count: usize) -> bool {
        cfg!(mmsg) && count < self.buffers.len()
    }

    /// The datagrams read by the last [`receive`], with their senders.
    pub(super) fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.buffers
            .iter()
            .zip(&self.received)
            .map(|(buffer, (len, from))| (buffer.get(..*len).unwrap_or_default(), *from))
    }
}

/// A datagram to send: where it goes, and its bytes.
pub(super) trait Datagram {
    fn destination(&self) -> SocketAddr;
    fn bytes(&self) -> &[u8];
}

/// Sends the first datagrams of `datagrams` (up to [`SEND_BATCH`]) in one call,
/// non-blocking: how many went. An error is the first datagram's (none of them went).
pub(super) fn send(socket: &UdpSocket, datagrams: &[impl Datagram]) -> io::Result<usize> {
    #[cfg(mmsg)]
    return calls::send(socket, datagrams);
    #[cfg(not(mmsg))]
    return datagrams.first().map_or(Ok(0), |datagram| {
        socket
            .try_send_to(datagram.bytes(), datagram.destination())
            .map(|_| 1)
    });
}

/// Reads what has arrived (up to the inbox's buffers) in one call, non-blocking: how many
/// datagrams; then see [`Inbox::datagrams`].
pub(super) fn receive(socket: &UdpSocket, inbox: &mut Inbox) -> io::Result<usize> {
    inbox.received.clear();
    #[cfg(mmsg)]
    return calls::receive(socket, inbox);
    #[cfg(not(mmsg))]
    return match inbox.buffers.first_mut() {
        Some(buffer) => {
            let (len, from) = socket.try_recv_from(buffer)?;
            inbox.received.push((len, from));
            Ok(1)
        }
        None => Ok(0),
    };
}

/// The system calls, through `nix`.
#[cfg(mmsg)]
mod calls {
    use std::io::{self, IoSlice, IoSliceMut};
    use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
    use tokio::net::UdpSocket;

    use super::{Datagram, Inbox, SEND_BATCH};

    pub(super) fn send(socket: &UdpSocket, datagrams: &[impl Datagram]) -> io::Result<usize> {
        let datagrams = datagrams.get(..SEND_BATCH).unwrap_or(datagrams);
        let slices: Vec<[IoSlice<'_>; 1]> = datagrams
            .iter()
            .map(|d| [IoSlice::new(d.bytes())])
            .collect();
        let addresses: Vec<Option<SockaddrStorage>> = datagrams
            .iter()
            .map(|d| Some(SockaddrStorage::from(d.destination())))
            .collect();
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(datagrams.len(), None);
        let sent = sendmmsg(
            socket.as_raw_fd(),
            &mut headers,
            &slices,
            &addresses,
            [],
            MsgFlags::empty(),
        )?;
        Ok(sent.count())
    }

    pub(super) fn receive(socket: &UdpSocket, inbox: &mut Inbox) -> io::Result<usize> {
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(inbox.buffers.len(), None);
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = inbox
            .buffers
            .iter_mut()
            .map(|buffer| [IoSliceMut::new(buffer)])
            .collect();
        let results = recvmmsg(
            socket.as_raw_fd(),
            &mut headers,
            slices.iter_mut(),
            MsgFlags::empty(),
            None,
        )?;
        for message in results {
            // A datagram from an address that is neither IPv4 nor IPv6 cannot answer a
            // query: it keeps its slot with an address no query waits on.
            let from = message
                .address
                .as_ref()
                .and_then(socket_address)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
            inbox.received.push((message.bytes, from));
        }
        Ok(inbox.received.len())
    }

    fn socket_address(address: &SockaddrStorage) -> Option<SocketAddr> {
        match address.as_sockaddr_in() {
            Some(v4) => Some(SocketAddrV4::from(*v4).into()),
            None => address
                .as_sockaddr_in6()
                .map(|v6| SocketAddrV6::from(*v6).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain(SocketAddr, Vec<u8>);

    impl Datagram for Plain {
        fn destination(&self) -> SocketAddr {
            self.0
        }
        fn bytes(&self) -> &[u8] {
            &self.1
        }
    }

    /// Many datagrams to two receivers in as few calls as the batch allows; each arrives
    /// once, whole, from the sender's address; the largest UDP payload is not cut.
    #[tokio::test]
    async fn datagrams_go_and_come_whole_and_in_batches() {
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let receivers = [
            UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        ];
        let mut datagrams: Vec<Plain> = (0..100_u8)
            .map(|i| {
                let to = receivers[usize::from(i % 2)].local_addr().unwrap();
                Plain(to, vec![i; usize::from(i) + 1])
            })
            .collect();
        datagrams.push(Plain(receivers[0].local_addr().unwrap(), vec![7; 65_507]));
        let mut calls = 0;
        let mut next = 0;
        while next < datagrams.len() {
            let sent = sender
                .async_io(tokio::io::Interest::WRITABLE, || {
                    send(&sender, &datagrams[next..])
                })
                .await
                .unwrap();
            assert!((1..=SEND_BATCH).contains(&sent));
            next += sent;
            calls += 1;
        }
        assert!(
            calls <= datagrams.len().div_ceil(SEND_BATCH) + 1,
            "{calls} calls"
        );
        let mut seen = Vec::new();
        for receiver in &receivers {
            let mut inbox = Inbox::new();
            let expected = datagrams
                .iter()
                .filter(|d| d.0 == receiver.local_addr().unwrap())
                .count();
            let mut got = 0;
            while got < expected {
                let count = receiver
                    .async_io(tokio::io::Interest::READABLE, || {
                        receive(receiver, &mut inbox)
                    })
                    .await
                    .unwrap();
                assert!(count >= 1);
                for (bytes, from) in inbox.datagrams() {
                    assert_eq!(from, sender.local_addr().unwrap());
                    seen.push(bytes.to_vec());
                }
                got += count;
            }
            assert_eq!(got, expected);
        }
        seen.sort();
        let mut sent: Vec<Vec<u8>> = datagrams.into_iter().map(|d| d.1).collect();
        sent.sort();
        assert_eq!(seen, sent);
    }
}
