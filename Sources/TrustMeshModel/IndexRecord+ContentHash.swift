public import TrustMeshCrypto

extension IndexRecord {
    /// The identity of what the record says: BLAKE2b-256 of ``signedBytes`` (every signed field, not
    /// the signature).
    ///
    /// Two records with one origin and sequence but different content hashes are an equivocation:
    /// the origin's key signed two histories. Gossip digests carry a prefix of it for each origin's
    /// newest record, and the store keeps it with that record, so comparing two nodes' views of an
    /// origin costs no scan. The signature is left out on purpose: the same fields signed twice are
    /// the same statement.
    public var contentHash: Digest256 { BLAKE2b256.hash(signedBytes) }
}
