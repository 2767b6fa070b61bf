import CertVaultCore
import Synchronization

/// The operator dashboard's sessions, in memory: a sign-in exchanges an API token for a session,
/// and the session cookie stands in for the token until logout or expiry.
///
/// - The cookie value is `HANDLE.SECRET`: a public handle (16 hex digits, the table's key, safe to
///   log) and 256 random bits (43 characters of URL-safe base64) that are compared in constant time
///   with the secret kept here as ``SecretBytes``.
/// - The session keeps the API token itself (``SecretBytes``, never a `String`), not the grant: the
///   dashboard resolves the token through the token authority on every request, so a revoked token,
///   an expired one or a changed access policy takes effect at the next click.
/// - A session lives `lifetime` seconds from sign-in (absolute, not sliding). An expired session is
///   removed when it is next presented and by ``purge(now:)``; removing the last reference to its
///   values frees their secure memory, which libsodium wipes.
/// - At most ``capacity`` sessions: a sign-in beyond that ends the oldest session.
///
/// Sessions do not survive a restart of the service (the operator signs in again) and are not
/// shared between replicas.
final class AdminSessions: Sendable {
    /// One signed-in operator.
    struct Session: Sendable {
        /// The public part of the cookie; names the session in logs.
        let handle: String
        /// The secret part of the cookie.
        let secret: SecretBytes
        /// The API token the operator signed in with.
        let token: SecretBytes
        /// The token's accessor (public), for the audit log.
        let accessor: String
        let created: Int64
        let expires: Int64
    }

    /// The cookie's name.
    static let cookieName = "certvault_session"
    static let handleLength = 16
    static let secretBytes = 32

    /// Seconds a session lives.
    let lifetime: Int64
    /// The most sessions kept.
    let capacity: Int
    private let table = Mutex<[String: Session]>([:])

    init(lifetimeSeconds: Int64, capacity: Int = 1000) {
        precondition(lifetimeSeconds > 0 && capacity > 0, "sessions need a lifetime and room")
        self.lifetime = lifetimeSeconds
        self.capacity = capacity
    }

    /// Starts a session for `token` and returns it with the cookie value (hand that to the response
    /// at once; do not keep it).
    func create(token: SecretBytes, accessor: String, now: Int64) -> (session: Session, cookie: String) {
        let secret = SecretBytes.random(count: Self.secretBytes)
        let session: Session = table.withLock { table in
            table = table.filter { $0.value.expires > now }
            var handle = Hex.lower(Self.randomBytes(Self.handleLength / 2))
            while table[handle] != nil { handle = Hex.lower(Self.randomBytes(Self.handleLength / 2)) }
            while table.count >= capacity, let oldest = table.values.min(by: { $0.created < $1.created }) {
                table[oldest.handle] = nil
            }
            let session = Session(
                handle: handle, secret: secret, token: token, accessor: accessor, created: now,
                expires: now + lifetime)
            table[handle] = session
            return session
        }
        let cookie = session.handle + "." + secret.withUnsafeBytes { Base64URL.encode(Array($0)) }
        return (session, cookie)
    }

    /// The live session a cookie value names, or nil when it is malformed, unknown, does not match
    /// or has expired (then it is removed).
    func session(cookie: String, now: Int64) -> Session? {
        let bytes = Array(cookie.utf8)
        guard bytes.count == Self.handleLength + 1 + 43, bytes[Self.handleLength] == UInt8(ascii: ".") else { return nil }
        let handle = String(decoding: bytes[..<Self.handleLength], as: UTF8.self)
        guard var decoded = Base64URL.decode(bytes[(Self.handleLength + 1)...]), decoded.count == Self.secretBytes else {
            return nil
        }
        let presented = decoded.withUnsafeBytes { SecretBytes(copying: $0) }
        SecureWipe.wipe(&decoded)
        return table.withLock { table -> Session? in
            guard let session = table[handle], session.secret == presented else { return nil }
            guard session.expires > now else {
                table[handle] = nil
                return nil
            }
            return session
        }
    }

    /// Ends the session with `handle` (logout, or its token no longer works); returns it when it was live.
    @discardableResult
    func end(handle: String) -> Session? {
        table.withLock { $0.removeValue(forKey: handle) }
    }

    /// Removes every expired session.
    func purge(now: Int64) {
        table.withLock { table in table = table.filter { $0.value.expires > now } }
    }

    /// The number of sessions kept (expired ones not yet purged included).
    var count: Int { table.withLock { $0.count } }

    static func randomBytes(_ count: Int) -> [UInt8] {
        SecretBytes.random(count: count).withUnsafeBytes { Array($0) }
    }
}

/// URL-safe base64 without padding (RFC 4648 section 5), for cookie values and form tokens.
enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value: UInt32 = 0
            for (offset, byte) in chunk.enumerated() { value |= UInt32(byte) << (16 - 8 * offset) }
            for position in 0...chunk.count { out.append(alphabet[Int((value >> (18 - 6 * position)) & 0x3F)]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes, or nil for a character outside the alphabet or an impossible length.
    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        guard text.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var value: UInt32 = 0
        var bits = 0
        for character in text {
            let digit: UInt8
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): digit = character - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = character - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = character - UInt8(ascii: "0") + 52
            case UInt8(ascii: "-"): digit = 62
            case UInt8(ascii: "_"): digit = 63
            default: return nil
            }
            value = (value << 6) | UInt32(digit)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((value >> UInt32(bits)) & 0xFF))
            }
        }
        // Only the canonical spelling: the last character's unused low bits must be zero, so that
        // two different cookie texts never name the same secret.
        guard value & ((UInt32(1) << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}
