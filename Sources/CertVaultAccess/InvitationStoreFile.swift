internal import CertVaultCore
internal import Foundation

/// One invitation as the store keeps it: its description and the keyed hash of its token, never the token.
struct StoredInvitation: Codable, Hashable, Sendable {
    var invitation: Invitation
    /// Hex of BLAKE2b-256(key = hash key, message = the token text).
    var hash: String
}

/// The keys of an invitation store, all derived from one key (which the vault derives from its root key).
struct InvitationStoreKeys: Sendable {
    /// Keys the hash of every token.
    let hashKey: SecretBytes
    /// Keys the MAC over the whole file.
    let fileKey: SecretBytes
    /// Hex of BLAKE2b-256(key = file key, message = "certvault invitations key check"): tells a store
    /// written under another key from an altered one.
    let keyCheck: String

    init(_ key: SecretBytes) {
        hashKey = TokenText.deriveKey(from: key, purpose: "certvault invitations hash key v1")
        fileKey = TokenText.deriveKey(from: key, purpose: "certvault invitations file key v1")
        keyCheck = Hex.lower(TokenText.keyedHash(Array("certvault invitations key check".utf8), key: fileKey))
    }
}

/// The invitation store file (docs/portal.md, "Invitations"): text lines, authenticated as a whole,
/// in the token store's layout.
///
///     certvault-invitations v1
///     revision N
///     keycheck HEX
///     invitation {JSON}     (one line per invitation)
///     mac HEX
///
/// `mac = hex(BLAKE2b-256(key = file key, message = every byte before the mac line))`.
struct InvitationStoreFile: Equatable {
    static let header = "certvault-invitations v1"
    static let sizeLimit = 16 << 20

    /// Counts every write; a file with a lower revision than one already read is a rollback.
    var revision: UInt64 = 0
    var invitations: [StoredInvitation] = []

    func serialize(keys: InvitationStoreKeys) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var body = Array("\(InvitationStoreFile.header)\nrevision \(revision)\nkeycheck \(keys.keyCheck)\n".utf8)
        for invitation in invitations {
            body += Array("invitation ".utf8) + Array(try encoder.encode(invitation)) + [UInt8(ascii: "\n")]
        }
        let mac = Hex.lower(TokenText.keyedHash(body, key: keys.fileKey))
        return body + Array("mac \(mac)\n".utf8)
    }

    static func parse(_ bytes: [UInt8], keys: InvitationStoreKeys, path: String) throws -> InvitationStoreFile {
        func corrupt(_ why: String) -> CertVaultError {
            CertVaultError(
                .invitationStoreCorrupt, "The invitation store '\(path)' cannot be used: \(why).",
                hint: "No invitation link works while it is so. Put back the file from a backup, or move it away and send new "
                    + "invitations with 'certvault invite' (every old link stops working).")
        }
        guard bytes.starts(with: Array((header + "\n").utf8)) else {
            throw corrupt(bytes.isEmpty ? "it is empty" : "it is not a certvault invitation store (no '\(header)' line)")
        }
        guard bytes.last == UInt8(ascii: "\n"), let macStart = bytes.dropLast().lastIndex(of: UInt8(ascii: "\n")).map({ $0 + 1 }) else {
            throw corrupt("it ends early")
        }
        let body = Array(bytes[..<macStart])
        let macLine = String(decoding: bytes[macStart..<(bytes.count - 1)], as: UTF8.self)
        let lines = String(decoding: body, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        let expected = Hex.lower(TokenText.keyedHash(body, key: keys.fileKey))
        guard macLine.hasPrefix("mac "), TokenText.equal(Array(macLine.dropFirst(4).utf8), Array(expected.utf8)) else {
            if lines.count >= 3, lines[lines.startIndex + 2].hasPrefix("keycheck "),
                lines[lines.startIndex + 2] != "keycheck \(keys.keyCheck)"
            {
                throw CertVaultError(
                    .invitationStoreWrongKey, "The invitation store '\(path)' was written with another vault's root key.",
                    hint: "Open the vault the store belongs to, or move the file away and send new invitations; invitations "
                        + "cannot move between vaults.")
            }
            throw corrupt("it failed authentication: it was edited, cut short or damaged after certvault wrote it")
        }
        // Authenticated: what follows was written by certvault with this key; it is still checked, so a
        // future format or a bug fails clearly instead of letting a link in.
        var file = InvitationStoreFile()
        var parts = Array(lines)
        guard parts.count >= 3, parts[1].hasPrefix("revision "), let revision = UInt64(parts[1].dropFirst(9)),
            parts[2] == "keycheck \(keys.keyCheck)"
        else { throw corrupt("its header lines are malformed") }
        file.revision = revision
        parts.removeFirst(3)
        let decoder = JSONDecoder()
        var seen = Set<String>()
        for (offset, line) in parts.enumerated() {
            guard line.hasPrefix("invitation "),
                let stored = try? decoder.decode(StoredInvitation.self, from: Data(line.dropFirst(11).utf8))
            else { throw corrupt("line \(offset + 4) is not an invitation record") }
            try validate(stored, line: offset + 4, corrupt: corrupt)
            guard seen.insert(stored.invitation.id).inserted else { throw corrupt("the id on line \(offset + 4) appears twice") }
            file.invitations.append(stored)
        }
        return file
    }

    static func validate(_ stored: StoredInvitation, line: Int, corrupt: (String) -> CertVaultError) throws {
        let invitation = stored.invitation
        guard InvitationText.isValidID(invitation.id), stored.hash.utf8.count == 2 * TokenText.hashBytes,
            stored.hash.utf8.allSatisfy(InvitationText.isLowerHex)
        else { throw corrupt("line \(line) has a malformed id or hash") }
        let consistent: Bool
        switch invitation.status {
        case .active: consistent = invitation.completedAt == nil && invitation.revokedAt == nil
        case .completed: consistent = invitation.completedAt != nil && invitation.revokedAt == nil
        case .revoked: consistent = invitation.revokedAt != nil
        }
        guard consistent, invitation.expiresAt > invitation.createdAt else {
            throw corrupt("line \(line) has a status or times that do not fit together")
        }
    }
}
