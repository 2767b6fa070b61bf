import CertVaultCore
import CertVaultHTTP
import CertVaultTesting
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Testing

/// What the simulator's HTTP server does besides the VB365 API: plain HTTP, keep-alive, the body
/// cap, stopping, a busy port, and answering while every thread of Swift's pool is blocked.
@Suite("VB365 simulator: its HTTP server")
struct SimulatorServerTests {
    @Test("plain HTTP on loopback: a client that allows it logs in; dropped and truncated answers are transport errors")
    func plainHTTP() throws {
        let simulator = try VB365Simulator(configuration: .init(users: [Harness.user: Harness.password]), tls: false)
        try simulator.start()
        defer { simulator.stop() }
        #expect(simulator.identity == nil)
        #expect(simulator.baseURL == "http://127.0.0.1:\(simulator.port)")
        let client = try VB365Client(configuration: .init(serverURL: simulator.baseURL, version: .v8, username: Harness.user,
                                                          http: .init(trust: .systemStore, connectTimeout: 5, totalTimeout: 10,
                                                                      allowPlainHTTPToLoopback: true),
                                                          retry: .none),
                                     password: Fixtures.secret(Harness.password), logger: Fixtures.logger)
        #expect(try client.organizations().isEmpty)
        let credential = try Fixtures.credential()
        for (index, truncate) in [false, true].enumerated() {
            let code = try client.createDeviceCode(region: .worldwide).userCode
            simulator.signIn(userCode: code)
            simulator.dropAfterProcessing("POST Organizations", truncate: truncate)
            let error = try #require(throws: VB365Error.self) {
                try client.addOrganization(Fixtures.organization("plain\(index).onmicrosoft.com", code: code, credential: credential))
            }
            #expect(error.code == .httpTransport, "truncate: \(truncate)")
            #expect(error.outcomeUnknown)
            #expect(simulator.received().last?.note == "dropped")
        }
        #expect(try client.organizations().count == 2, "both were added before the connection was cut")
    }

    @Test("keep-alive: two requests on one connection get two answers",
          .enabled(if: ExternalTool.python3.isAvailable || TestEnvironment.toolsRequired, "python3 is needed for a raw socket"))
    func keepAlive() throws {
        let simulator = try VB365Simulator(tls: false)
        try simulator.start()
        defer { simulator.stop() }
        let script = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            request = b"GET /v8/ServiceInstance HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
            s.sendall(request + request)
            data = b""
            s.settimeout(10)
            while data.count(b"HTTP/1.1 401") < 2:
                chunk = s.recv(65536)
                if not chunk: break
                data += chunk
            print(data.count(b"HTTP/1.1 401"))
            """
        let result = try ExternalTool.python3.run(["-c", script, String(simulator.port)])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        #expect(simulator.received().map(\.status) == [401, 401])
    }

    @Test("a request body over 16 MiB is refused with 413 and not recorded")
    func bodyCap() throws {
        let harness = try Harness()
        let http = try HTTPClient(configuration: .init(trust: .caFile(harness.caFile), totalTimeout: 60), logger: Fixtures.logger)
        let response = try http.send(HTTPRequest(method: "POST", url: harness.simulator.baseURL + "/v8/token",
                                                 headers: [("Content-Type", "application/json")],
                                                 body: [UInt8](repeating: UInt8(ascii: " "), count: (16 << 20) + 1)))
        #expect(response.status == 413)
        #expect(harness.simulator.received().isEmpty)
    }

    @Test("stop() closes a connection waiting for a delayed answer, and nothing listens afterwards")
    func stopClosesConnections() throws {
        let harness = try Harness()
        let client = try harness.client { $0.http.totalTimeout = 60; $0.retry = .none }
        try client.logIn()
        harness.simulator.delay("GET Organizations", seconds: 30)
        let outcome = Outcome()
        Thread.detachNewThread {
            outcome.set(Result { try client.organizations() })
        }
        let deadline = Date().addingTimeInterval(20)
        while harness.count("GET", "/Organizations") == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(harness.count("GET", "/Organizations") == 1, "the request arrived and waits")
        harness.simulator.stop()
        // Had the connection stayed open, the answer would come after 30 s as a success.
        let result = try #require(outcome.wait(seconds: 25), "the waiting call ended")
        #expect(throws: VB365Error.self) { try result.get() }
        let after = try #require(throws: VB365Error.self) { try harness.client { $0.retry = .none }.organizations() }
        #expect(after.code == .httpConnect)
    }

    @Test("a port already in use: start fails with the address and a hint")
    func portInUse() throws {
        let first = try VB365Simulator(tls: false)
        try first.start()
        defer { first.stop() }
        let second = try VB365Simulator(port: first.port, tls: false)
        let error = try #require(throws: CertVaultError.self) { try second.start() }
        #expect(error.code == .vb365Simulator)
        #expect(error.reason.contains("127.0.0.1:\(first.port)"))
        #expect(error.hint?.contains("--port") == true)
    }

    @Test("it answers while blocking calls hold every thread of Swift's concurrency pool")
    func answersWithPoolBlocked() async throws {
        let harness = try Harness()
        let client = try harness.client()
        try client.logIn()
        // More blocking callers than the pool has threads: each waits in libcurl for the simulator.
        let callers = ProcessInfo.processInfo.activeProcessorCount + 2
        let versions = try await withThrowingTaskGroup(of: String?.self) { group in
            for _ in 0..<callers { group.addTask { try client.serviceInstance().version } }
            return try await group.reduce(into: [String?]()) { $0.append($1) }
        }
        #expect(versions.count == callers)
        #expect(versions.allSatisfy { $0 == "8.1.0.331" })
    }
}

/// The result of a call made on another thread.
private final class Outcome: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<[VB365Organization], any Error>?

    func set(_ value: Result<[VB365Organization], any Error>) {
        condition.withLock {
            result = value
            condition.broadcast()
        }
    }

    func wait(seconds: Double) -> Result<[VB365Organization], any Error>? {
        condition.withLock {
            let deadline = Date().addingTimeInterval(seconds)
            while result == nil && condition.wait(until: deadline) {}
            return result
        }
    }
}
