public import CertVaultCore
internal import CSodium
internal import Foundation
public import CertVaultOnboarding

/// Signs webhook requests with HMAC-SHA256, the way receivers check them.
///
/// The signed message is `"<timestamp>.<body>"`: the Unix time in seconds as decimal digits, a
/// full stop, then the request body's bytes exactly as sent. The header
/// `Certvault-Signature: t=<timestamp>,v1=<hex>` carries both, so a receiver recomputes the MAC,
/// compares it in constant time and rejects a timestamp too far from its own clock (a replayed
/// request). The key is the `[webhooks] secret_*` source's bytes as they are (without one trailing
/// line break), at least ``minimumKeyBytes`` of them; it stays in ``SecretBytes``.
public struct WebhookSigner: Sendable {
    /// The shortest key accepted: HMAC-SHA256's output size.
    public static let minimumKeyBytes = 32

    /// The header names every delivery carries.
    public enum Header {
        /// `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
        public static let signature = "Certvault-Signature"
        /// The event's id: the same on every attempt, for de-duplication.
        public static let eventID = "Certvault-Event-Id"
        /// The event's type, such as `onboarding.completed`.
        public static let eventType = "Certvault-Event-Type"
        /// The attempt's number, 1 for the first.
        public static let attempt = "Certvault-Delivery-Attempt"
    }

    private let key: SecretBytes

    /// A signer with `key`.
    ///
    /// - Throws: ``CertVaultError`` `webhook-secret-too-short` when the key has fewer than
    ///   ``minimumKeyBytes`` bytes.
    public init(key: SecretBytes) throws {
        guard key.count >= Self.minimumKeyBytes else {
            throw CertVaultError(
                .webhookSecretTooShort,
                "The webhook signing key has \(key.count) bytes; at least \(Self.minimumKeyBytes) are needed.",
                hint: "Write a longer random key into the secret file, e.g. 'openssl rand -hex 32 > webhook.key' "
                    + "(64 characters), give the same file to the receivers, and set [webhooks] secret_file.")
        }
        self.key = key
    }

    /// Reads the key from its source and makes a signer.
    ///
    /// - Throws: ``CertVaultError`` `secret-source-unreadable` (the source), `webhook-secret-too-short`.
    public static func load(from source: SecretSource) throws -> WebhookSigner {
        try WebhookSigner(key: try source.read())
    }

    /// The lower-case hex HMAC-SHA256 of `"<timestamp>.<body>"`.
    public func signature(timestamp: Int64, body: [UInt8]) -> String {
        SodiumRuntime.ensureInitialized()
        let prefix = Array("\(timestamp).".utf8)
        var state = crypto_auth_hmacsha256_state()
        var mac = [UInt8](repeating: 0, count: Int(crypto_auth_hmacsha256_BYTES))
        key.withUnsafeBytes { raw in
            _ = crypto_auth_hmacsha256_init(&state, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count)
        }
        _ = crypto_auth_hmacsha256_update(&state, prefix, UInt64(prefix.count))
        _ = crypto_auth_hmacsha256_update(&state, body, UInt64(body.count))
        _ = crypto_auth_hmacsha256_final(&state, &mac)
        // The state holds the key's inner and outer pads.
        withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress, $0.count) }
        return Hex.lower(mac)
    }

    /// The value of the `Certvault-Signature` header.
    public func signatureHeader(timestamp: Int64, body: [UInt8]) -> String {
        "t=\(timestamp),v1=\(signature(timestamp: timestamp, body: body))"
    }

    /// Whether `header` (a `Certvault-Signature` value) signs `body` with this key, with a
    /// timestamp at most `tolerance` seconds from `now`. The receiver's check, for tests and tools.
    public func verify(header: String, body: [UInt8], now: Int64, tolerance: Int64 = 300) -> Bool {
        var timestamp: Int64?
        var candidates: [String] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { timestamp = Int64(pair[1]) }
            if pair[0] == "v1" { candidates.append(pair[1]) }
        }
        guard let timestamp, abs(now - timestamp) <= tolerance else { return false }
        let expected = Array(signature(timestamp: timestamp, body: body).utf8)
        return candidates.contains { candidate in
            let given = Array(candidate.utf8)
            return given.count == expected.count && sodium_memcmp(given, expected, expected.count) == 0
        }
    }

    /// The headers of one delivery attempt of `event` with `body` signed at `timestamp`.
    public func headers(for event: LifecycleEvent, body: [UInt8], timestamp: Int64, attempt: Int) -> [(String, String)] {
        [
            ("Content-Type", "application/json"),
            (Header.eventID, event.id),
            (Header.eventType, event.kind.rawValue),
            (Header.attempt, String(attempt)),
            (Header.signature, signatureHeader(timestamp: timestamp, body: body)),
        ]
    }
}

extension CertVaultError.Code {
    /// The webhook signing key is shorter than 32 bytes.
    public static let webhookSecretTooShort = CertVaultError.Code("webhook-secret-too-short")
    /// A webhook receiver did not accept an event (an error status or no answer).
    public static let webhookDeliveryFailed = CertVaultError.Code("webhook-delivery-failed")
}

/// The wall clock the outbox and the deliverer use unless a test gives its own.
public enum WebhookClock {
    /// Unix time in seconds, with a fraction.
    @Sendable public static func now() -> Double { Date().timeIntervalSince1970 }
}
