import CertVaultTesting
import Foundation
import Testing

@Suite("certvault webhook test", .serialized,
       .enabled(if: ExternalTool.python3.isAvailable || TestEnvironment.toolsRequired, "python3 is not installed"))
struct WebhookCommandTests {
    static let key = "cli-webhook-key-" + String(repeating: "z", count: 32)

    /// A configuration with the key and plain HTTP to loopback allowed.
    static func config(_ dir: TemporaryDirectory, keyFile: String, timeout: Int = 5) throws -> String {
        try dir.write("certvault.toml", """
            [webhooks]
            secret_file = "\(keyFile)"
            allow_plain_http_loopback = true
            timeout = \(timeout)

            """)
    }

    @Test("sends one signed test event and prints the receiver's status")
    func accepted() throws {
        let dir = try TemporaryDirectory()
        let keyFile = try dir.write("webhook.key", Self.key)
        let receiver = try WebhookReceiver(directory: dir, keyFile: keyFile, mode: "ok")
        let output = try CLI.run(["webhook", "test", receiver.url + "/secret-path", "--config", try Self.config(dir, keyFile: keyFile)])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("answered 200"))
        #expect(!output.combined.contains("secret-path"), "the URL's path is not printed")
        let requests = try receiver.requests()
        #expect(requests.count == 1)
        #expect(requests.first?.type == "test")
        #expect(requests.first?.signatureValid == true)
        #expect(requests.first.map { output.stdout.contains($0.id) } == true)
        #expect(requests.first?.body.contains(Self.key) == false)
    }

    @Test("a receiver with another key answers 401: exit 1, and the hint names the key")
    func refused() throws {
        let dir = try TemporaryDirectory()
        let keyFile = try dir.write("webhook.key", Self.key)
        let otherKey = try dir.write("other.key", String(repeating: "o", count: 40))
        let receiver = try WebhookReceiver(directory: dir, keyFile: otherKey, mode: "ok")
        let output = try CLI.run(["webhook", "test", receiver.url, "--config", try Self.config(dir, keyFile: keyFile)])
        #expect(output.status == 1)
        #expect(output.stderr.contains("answered 401"))
        #expect(output.stderr.contains("same key"))
        #expect(try receiver.requests().map(\.signatureValid) == [false])
    }

    @Test("nothing listening: exit 1 with the connection error and what to check")
    func unreachable() throws {
        let dir = try TemporaryDirectory()
        let keyFile = try dir.write("webhook.key", Self.key)
        let output = try CLI.run(["webhook", "test", "http://127.0.0.1:9/hook", "--config", try Self.config(dir, keyFile: keyFile)])
        #expect(output.status == 1)
        #expect(output.stderr.contains("hint:"))
        #expect(!output.stderr.contains("/hook"))
    }

    @Test("no key, or a key shorter than 32 bytes: a clear refusal before anything is sent")
    func keyProblems() throws {
        let dir = try TemporaryDirectory()
        let plain = try dir.write("plain.toml", "[webhooks]\nallow_plain_http_loopback = true\n")
        let none = try CLI.run(["webhook", "test", "http://127.0.0.1:9/hook", "--config", plain])
        #expect(none.status == 1)
        #expect(none.stderr.contains("no webhook signing key"))
        let short = try dir.write("short.key", "short-key")
        let output = try CLI.run(["webhook", "test", "http://127.0.0.1:9/hook", "--config", try Self.config(dir, keyFile: short)])
        #expect(output.status == 1)
        #expect(output.stderr.contains("at least 32"))
        #expect(!output.stderr.contains("short-key"))
    }
}
