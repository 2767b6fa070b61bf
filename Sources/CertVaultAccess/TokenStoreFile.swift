internal import CertVaultCore
internal import Foundation

/// One token as the store keeps it: its keyed hash, never the token.
struct StoredToken: Codable, Hashable, Sendable {
    var accessor: String
    var name: String
    /// Hex of BLAKE2b-256(key = hash key, message = the token text).
    var hash: String
    /// Sorted scope names; empty for a token bound to a policy.
    var scopes: [String]
    var policy: String?
    /// Tenant ids and patterns; nil: every tenant (or the policy's).
    var tenants: [String]?
    var created: Int64
    var expires: Int64?
    var revoked: Int64?
    var lastUsed: Int64?

    var info: TokenInfo {
        TokenInfo(
            accessor: accessor, name: name, scopes: scopes.compactMap(Scope.init(rawValue:)), policy: policy, tenants: tenants,
            created: created, expires: expires, revoked: revoked, lastUsed: lastUsed)
    }
}

/// The keys of a token store, all derived from one key (which the vault derives from its root key).
struct TokenStoreKeys: Sendable {
    /// Keys the hash of every token.
    let hashKey: SecretBytes
    /// Keys the MAC over the whole file.
    let fileKey: SecretBytes
    /// Hex of BLAKE2b-256(key = file key, message = "certvault tokens key check"): tells a store written
    /// under another key from an altered one.
    let keyCheck: String

    init(_ key: SecretBytes) {
        hashKey = TokenText.deriveKey(from: key, purpose: "certvault tokens hash key v1")
        fileKey = TokenText.deriveKey(from: key, purpose: "certvault tokens file key v1")
        keyCheck = Hex.lower(TokenText.keyedHash(Array("certvault tokens key check".utf8), key: fileKey))
    }
}

/// The token store file (docs/access.md, "Storage"): text lines, authenticated as a whole.
///
///     certvault-tokens v1
///     revision N
///     keycheck HEX
///     token {JSON}          (one line per token)
///     mac HEX
///
/// `mac = hex(BLAKE2b-256(key = file key, message = every byte before the mac line))`.
struct TokenStoreFile: Equatable {
    static let header = "certvault-tokens v1"
    static let sizeLimit = 16 << 20

    /// Counts every write; a file with a lower revision than one already read is a rollback.
    var revision: UInt64 = 0
    var tokens: [StoredToken] = []

    func serialize(keys: TokenStoreKeys) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var body = Array("\(TokenStoreFile.header)\nrevision \(revision)\nkeycheck \(keys.keyCheck)\n".utf8)
        for token in tokens {
            body += Array("token ".utf8) + Array(try encoder.encode(token)) + [UInt8(ascii: "\n")]
        }
        let mac = Hex.lower(TokenText.keyedHash(body, key: keys.fileKey))
        return body + Array("mac \(mac)\n".utf8)
    }

    static func parse(_ bytes: [UInt8], keys: TokenStoreKeys, path: String) throws -> TokenStoreFile {
        func corrupt(_ why: String) -> CertVaultError {
            CertVaultError(
                .tokenStoreCorrupt, "The token store '\(path)' cannot be used: \(why).",
                hint: "Nothing is granted from it. Put back the file from a backup, or move it away and create the "
                    + "tokens again with 'certvault token create' (every old token stops working).")
        }
        guard bytes.starts(with: Array((header + "\n").utf8)) else {
            throw corrupt(bytes.isEmpty ? "it is empty" : "it is not a certvault token store (no '\(header)' line)")
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
                    .tokenStoreWrongKey, "The token store '\(path)' was written with another vault's root key.",
                    hint: "Point the token store (--store, [tokens] store) at this vault's own store, or open the vault it belongs to; "
                        + "tokens cannot move between vaults.")
            }
            throw corrupt("it failed authentication: it was edited, cut short or damaged after certvault wrote it")
        }
        // Authenticated: what follows was written by certvault with this key; it is still checked, so a
        // future format or a bug fails clearly instead of granting something.
        var file = TokenStoreFile()
        var parts = Array(lines)
        guard parts.count >= 3, parts[1].hasPrefix("revision "), let revision = UInt64(parts[1].dropFirst(9)),
            parts[2] == "keycheck \(keys.keyCheck)"
        else { throw corrupt("its header lines are malformed") }
        file.revision = revision
        parts.removeFirst(3)
        let decoder = JSONDecoder()
        var seen = Set<String>()
        for (offset, line) in parts.enumerated() {
            guard line.hasPrefix("token "),
                let token = try? decoder.decode(StoredToken.self, from: Data(line.dropFirst(6).utf8))
            else { throw corrupt("line \(offset + 4) is not a token record") }
            try validate(token, line: offset + 4, corrupt: corrupt)
            guard seen.insert(token.accessor).inserted else { throw corrupt("the accessor on line \(offset + 4) appears twice") }
            file.tokens.append(token)
        }
        return file
    }

    static func validate(_ token: StoredToken, line: Int, corrupt: (String) -> CertVaultError) throws {
        guard token.accessor.utf8.count == TokenText.accessorLength,
            token.accessor.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
            token.hash.utf8.count == 2 * TokenText.hashBytes,
            token.hash.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { throw corrupt("line \(line) has a malformed accessor or hash") }
        guard token.scopes.allSatisfy({ Scope(rawValue: $0) != nil }) else {
            throw corrupt("line \(line) names a scope this certvault does not know (written by a newer release?)")
        }
        guard (token.policy == nil) != token.scopes.isEmpty, token.policy == nil || token.tenants == nil else {
            throw corrupt("line \(line) has both scopes and a policy, or neither")
        }
        if let tenants = token.tenants, (try? TenantSelector(tenants)) == nil {
            throw corrupt("line \(line) has an invalid tenant pattern")
        }
    }
}
