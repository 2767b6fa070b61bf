import CertVaultHTTP
import CertVaultTesting
import CertVaultVB365Simulator
import Foundation
import Logging
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

@Suite("certvault serve with webhooks", .serialized,
       .enabled(if: ExternalTool.python3.isAvailable || TestEnvironment.toolsRequired, "python3 is not installed"))
struct ServeWebhookTests {
    @Test("serve delivers onboarding.code_issued from the API and onboarding.completed from the worker, signed; a short key stops it")
    func endToEnd() throws {
        let world = try ServeWorld()
        let keyFile = try world.dir.write("webhook.key", WebhookCommandTests.key)
        let receiver = try WebhookReceiver(directory: world.dir, keyFile: keyFile, mode: "fail:1")
        let config = try String(contentsOfFile: world.configFile, encoding: .utf8)
        try world.dir.write("certvault.toml", config + """
            [webhooks]
            urls = ["\(receiver.url)"]
            secret_file = "\(keyFile)"
            allow_plain_http_loopback = true
            outbox = "\(world.dir.file("outbox"))"

            """)
        let created = try CLI.run(["token", "create", "--name", "hooks", "--scope", "onboarding:write,onboarding:read", "--json"],
                                  environment: world.env)
        try #require(created.status == 0, "\(created.stderr)")
        let token = try #require((try JSONSerialization.jsonObject(with: created.stdoutData) as? [String: Any])?["token"] as? String)

        let serve = try world.serve()
        let ready = try serve.ready()
        #expect(serve.stdout.contains("webhooks: 1 receiver(s)"))
        let client = try HTTPClient(configuration: .init(trust: .caFile(try #require(ready.certificateFile)), connectTimeout: 5, totalTimeout: 20),
                                    logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let started = try client.send(HTTPRequest(
            method: "POST", url: ready.url + "/v1/onboardings",
            headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
            body: Array(#"{"tenant": "tailspin", "organizationName": "tailspin.onmicrosoft.com"}"#.utf8)))
        #expect(started.status == 202)
        let userCode = try #require((try JSONSerialization.jsonObject(with: Data(started.body)) as? [String: Any])?["userCode"] as? String)
        _ = world.simulator.signIn(userCode: userCode)
        // The first attempt of each event gets 500; the retry (10 s later by default) gets 200.
        #expect(waitUntil(90) { ((try? receiver.requests()) ?? []).filter { $0.status == 200 }.count >= 2 })
        let requests = try receiver.requests()
        let delivered = requests.filter { $0.status == 200 }.map(\.type).sorted()
        #expect(delivered == ["onboarding.code_issued", "onboarding.completed"])
        #expect(requests.allSatisfy { $0.signatureValid })
        for request in requests {
            #expect(!request.body.contains(token) && !request.body.contains(userCode) && !request.body.contains("serve-test-password"))
        }
        serve.signal(SIGTERM)
        #expect(serve.exitStatus() == 0)

        // A key shorter than 32 bytes: serve refuses to start and says why.
        try world.dir.write("webhook.key", "short")
        let refused = try world.serve(name: "short")
        #expect(throws: (any Error).self) { try refused.ready(timeout: 60) }
        #expect(refused.stderr.contains("at least 32"))
    }
}
