import CertVaultCore
import CertVaultOnboarding
import CertVaultTesting
import Foundation
import Testing

@testable import CertVaultWebhooks

func secret(_ text: String) -> SecretBytes { Array(text.utf8).withUnsafeBytes { SecretBytes(copying: $0) } }

@Suite("Webhook signatures")
struct SignerTests {
    @Test("the signature is HMAC-SHA256 over timestamp.body, as Python's hmac computes it")
    func knownAnswer() throws {
        let body = Array(#"{"type":"test"}"#.utf8)
        let signer = try WebhookSigner(key: secret("0123456789abcdef0123456789abcdef"))
        let expected = "88634855172e579b40004752d563d411802d3e374cfdbbc18b7006e5c57f1c62"
        #expect(signer.signature(timestamp: 1_700_000_000, body: body) == expected)
        #expect(signer.signatureHeader(timestamp: 1_700_000_000, body: body) == "t=1700000000,v1=\(expected)")
        // A key longer than SHA-256's block (131 bytes of 0xAA) is hashed first, as RFC 2104 says.
        let long = try WebhookSigner(key: [UInt8](repeating: 0xAA, count: 131).withUnsafeBytes { SecretBytes(copying: $0) })
        #expect(long.signature(timestamp: 1_700_000_000, body: body) == "2bc504f668970d40813b4c64beb8d148f926e9e4dd8c1d78c80353d230743aa4")
    }

    @Test("a key shorter than 32 bytes is refused with a hint, and the key is never in the message")
    func shortKey() throws {
        let error = try #require(throws: CertVaultError.self) { try WebhookSigner(key: secret("too-short-key-material")) }
        #expect(error.code == .webhookSecretTooShort)
        #expect(error.hint?.contains("openssl rand") == true)
        #expect(!error.description.contains("too-short-key-material"))
    }

    @Test("verification rejects another body, another key, and an old timestamp")
    func verification() throws {
        let signer = try WebhookSigner(key: secret(String(repeating: "k", count: 40)))
        let other = try WebhookSigner(key: secret(String(repeating: "j", count: 40)))
        let body = Array(#"{"id":"1"}"#.utf8)
        let now: Int64 = 1_800_000_000
        let header = signer.signatureHeader(timestamp: now, body: body)
        #expect(signer.verify(header: header, body: body, now: now + 10))
        #expect(!signer.verify(header: header, body: Array(#"{"id":"2"}"#.utf8), now: now))
        #expect(!other.verify(header: header, body: body, now: now))
        #expect(!signer.verify(header: header, body: body, now: now + 301), "a replay after five minutes is refused")
    }

    @Test("headers: event id, type, attempt and the signature over the exact body")
    func headers() throws {
        let signer = try WebhookSigner(key: secret(String(repeating: "k", count: 40)))
        let event = LifecycleEvent(kind: .test, tenant: nil, occurredAt: "2026-01-01T00:00:00Z")
        let body = try WebhookPayload.body(event)
        let headers = Dictionary(uniqueKeysWithValues: signer.headers(for: event, body: body, timestamp: 5, attempt: 2))
        #expect(headers["Certvault-Event-Id"] == event.id)
        #expect(headers["Certvault-Event-Type"] == "test")
        #expect(headers["Certvault-Delivery-Attempt"] == "2")
        #expect(headers["Content-Type"] == "application/json")
        #expect(headers["Certvault-Signature"] == signer.signatureHeader(timestamp: 5, body: body))
        #expect(String(decoding: body, as: UTF8.self).hasPrefix(#"{"data":{},"id":""#), "keys sorted")
    }

    @Test("logs show a receiver's scheme, host and port, never its path or query")
    func displayedReceiver() {
        #expect(WebhookDeliverer.display("https://hooks.example.com/services/T000/SECRET") == "https://hooks.example.com/…")
        #expect(WebhookDeliverer.display("https://hooks.example.com:8443/?token=SECRET") == "https://hooks.example.com:8443/…")
        #expect(WebhookDeliverer.display("http://127.0.0.1:9000") == "http://127.0.0.1:9000")
    }
}
