//! One DNS exchange with the server: UDP with a fall back to TCP when the answer is truncated
//! (or the request is too large for a datagram), or TCP only when asked.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};

/// Requests larger than this go over TCP: the safe UDP payload size of DNS flag day 2020.
const MAX_UDP_REQUEST: usize = 1232;
/// Largest UDP answer read.
const MAX_UDP_ANSWER: usize = 65_535;

/// How messages reach the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// UDP, and TCP when the answer comes back truncated (the default).
    #[default]
    Udp,
    /// TCP only (for servers or firewalls that want it).
    Tcp,
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A socket error.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Sends `request` (wire bytes, with id `id`) to `server` and returns the answer's bytes.
pub(crate) async fn exchange(
    server: SocketAddr,
    request: &[u8],
    id: u16,
    transport: Transport,
    timeout: Duration,
) -> Result<Vec<u8>, ExchangeError> {
    let run = async {
        if transport == Transport::Udp && request.len() <= MAX_UDP_REQUEST {
            let answer = udp(server, request, id).await?;
            if !truncated(&answer) {
                return Ok(answer);
            }
            tracing::debug!(%server, "answer truncated over UDP: asking again over TCP");
        }
        tcp(server, request).await
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| ExchangeError::Timeout(timeout))?
}

fn truncated(answer: &[u8]) -> bool {
    answer.get(2).is_some_and(|flags| flags & 0x02 != 0)
}

async fn udp(server: SocketAddr, request: &[u8], id: u16) -> Result<Vec<u8>, ExchangeError> {
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    socket.send(request).await?;
    let mut buf = vec![0u8; MAX_UDP_ANSWER];
    loop {
        let n = socket.recv(&mut buf).await?;
        // A connected socket only hears from the server; still skip stray datagrams whose id
        // is not ours (a late answer to an earlier attempt).
        if n >= 12 && buf[..2] == id.to_be_bytes() {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp(server: SocketAddr, request: &[u8]) -> Result<Vec<u8>, ExchangeError> {
    let len = u16::try_from(request.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the message is longer than 65535 bytes",
        )
    })?;
    let mut stream = TcpStream::connect(server).await?;
    let mut framed = Vec::with_capacity(request.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(request);
    stream.write_all(&framed).await?;
    let answer_len = stream.read_u16().await?;
    let mut answer = vec![0u8; usize::from(answer_len)];
    stream.read_exact(&mut answer).await?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[tokio::test]
    async fn a_truncated_udp_answer_is_asked_again_over_tcp() {
        let udp_server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp_server.local_addr().unwrap();
        let tcp_server = tokio::net::TcpListener::bind(addr).await.unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (n, peer) = udp_server.recv_from(&mut buf).await.unwrap();
            let mut answer = buf[..n].to_vec();
            answer[2] |= 0x82; // QR + TC
            udp_server.send_to(&answer, peer).await.unwrap();
        });
        tokio::spawn(async move {
            let (mut s, _) = tcp_server.accept().await.unwrap();
            let len = s.read_u16().await.unwrap();
            let mut req = vec![0u8; usize::from(len)];
            s.read_exact(&mut req).await.unwrap();
            req[2] |= 0x80; // QR, complete
            req.extend_from_slice(b"tcp");
            s.write_u16(u16::try_from(req.len()).unwrap())
                .await
                .unwrap();
            s.write_all(&req).await.unwrap();
        });
        let request = [0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let answer = exchange(
            addr,
            &request,
            0x1234,
            Transport::Udp,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert!(answer.ends_with(b"tcp"), "{answer:?}");
        assert!(!truncated(&answer));
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let request = [0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let err = exchange(
            addr,
            &request,
            0x1234,
            Transport::Udp,
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ExchangeError::Timeout(_)), "{err}");
        drop(silent);
    }
}
