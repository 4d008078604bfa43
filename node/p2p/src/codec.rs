//! Request-response for proofs (specs/p2p.md §3): `proof_by_root` and
//! `proofs_by_range`. A request is one snappy SSZ message; a response is a
//! run of chunks, each a 4-byte big-endian length and a snappy SSZ
//! `SignedProof`. Every length is checked before it is read.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

use crate::error::CodecError;
use crate::topics::MAX_PROOF_MESSAGE_BYTES;
use crate::wire::{self, ProofsByRangeRequest, ProofsByRootRequest};

pub const MAX_REQUEST_BYTES: usize = 1024;
/// Proofs in one by-range response (EIP-8025 style paging).
pub const MAX_RESPONSE_CHUNKS: usize = 512;
/// All chunks of one response together.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
pub const MAX_RANGE_COUNT: u64 = 128;
/// What a node serves in one response at most: half of what clients accept
/// (`MAX_RESPONSE_BYTES`), so an honest reply is never refused (specs/p2p.md §6).
pub const MAX_SERVED_BYTES: usize = MAX_RESPONSE_BYTES / 2;

pub fn by_root_protocol(network: &str) -> StreamProtocol {
    StreamProtocol::try_from_owned(format!("/slotproof/{network}/proof_by_root/1")).expect("starts with a slash")
}

pub fn by_range_protocol(network: &str) -> StreamProtocol {
    StreamProtocol::try_from_owned(format!("/slotproof/{network}/proofs_by_range/1")).expect("starts with a slash")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofRequest {
    ByRoot(ProofsByRootRequest),
    ByRange(ProofsByRangeRequest),
}

/// Encoded `SignedProof`s (snappy SSZ), decoded and checked by the caller.
pub type ProofResponse = Vec<Vec<u8>>;

#[derive(Clone, Default)]
pub struct ProofCodec;

async fn read_chunk<T: AsyncRead + Unpin + Send>(io: &mut T, cap: usize) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match io.read_exact(&mut len).await {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > cap {
        return Err(CodecError::ChunkTooLarge { len, cap }.into());
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

async fn write_chunk<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| CodecError::ChunkUnframeable(bytes.len()))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(bytes).await
}

impl libp2p::request_response::Codec for ProofCodec {
    type Protocol = StreamProtocol;
    type Request = ProofRequest;
    type Response = ProofResponse;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<ProofRequest> {
        let bytes = read_chunk(io, MAX_REQUEST_BYTES).await?.ok_or(CodecError::EmptyRequest)?;
        if protocol.as_ref().ends_with("/proof_by_root/1") {
            Ok(ProofRequest::ByRoot(wire::decode_checked(&bytes, MAX_REQUEST_BYTES).map_err(CodecError::from)?))
        } else {
            let r: ProofsByRangeRequest = wire::decode_checked(&bytes, MAX_REQUEST_BYTES).map_err(CodecError::from)?;
            if r.count > MAX_RANGE_COUNT {
                return Err(CodecError::RangeTooLong { count: r.count, max: MAX_RANGE_COUNT }.into());
            }
            Ok(ProofRequest::ByRange(r))
        }
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<ProofResponse> {
        let mut out = Vec::new();
        let mut total = 0usize;
        while let Some(chunk) = read_chunk(io, MAX_PROOF_MESSAGE_BYTES).await? {
            total += chunk.len();
            if out.len() >= MAX_RESPONSE_CHUNKS || total > MAX_RESPONSE_BYTES {
                return Err(
                    CodecError::ResponseTooLarge { chunks: MAX_RESPONSE_CHUNKS, bytes: MAX_RESPONSE_BYTES }.into()
                );
            }
            out.push(chunk);
        }
        Ok(out)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: ProofRequest,
    ) -> io::Result<()> {
        let bytes = match &req {
            ProofRequest::ByRoot(r) => wire::encode(r),
            ProofRequest::ByRange(r) => wire::encode(r),
        };
        write_chunk(io, &bytes).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: ProofResponse,
    ) -> io::Result<()> {
        for chunk in res.iter().take(MAX_RESPONSE_CHUNKS) {
            write_chunk(io, chunk).await?;
        }
        io.close().await
    }
}
