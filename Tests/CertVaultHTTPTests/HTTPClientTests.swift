import CertVaultCore
import CertVaultHTTP
import CertVaultTesting
import Foundation
import Logging
import Testing

/// A real HTTPS server on loopback for the client's tests: Python's http.server behind its ssl
/// module, with a certificate the openssl CLI makes. (The VB365 simulator, a later issue, will
/// serve the API itself.)
final class LoopbackServer: @unchecked Sendable {
    static let script = #"""
        import http.server, json, ssl, sys, time
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self): self.route()
            def do_POST(self): self.route()
            def do_PUT(self): self.route()
            def route(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == "/ok":
                    self.reply(200, json.dumps({"method": self.command, "body": body.decode(),
                                                "ua": self.headers.get("User-Agent"), "x": self.headers.get("X-Test")}).encode())
                elif self.path == "/big": self.reply(200, b"x" * 3000000)
                elif self.path == "/slow":
                    time.sleep(3)
                    self.reply(200, b"late")
                elif self.path == "/error": self.reply(500, b'{"message":"boom"}')
                elif self.path == "/redirect": self.reply(302, b"", {"Location": "/ok"})
                else: self.reply(404, b"")
            def reply(self, code, body, headers={}):
                self.send_response(code)
                for k, v in headers.items(): self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args): pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if sys.argv[1] == "tls":
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(sys.argv[2], sys.argv[3])
            server.socket = context.wrap_socket(server.socket, server_side=True)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#

    let dir: TemporaryDirectory
    let process = Process()
    let port: Int
    let certificate: String
    let pin: String

    init(tls: Bool = true) throws {
        dir = try TemporaryDirectory()
        certificate = dir.file("cert.pem")
        let made = try ExternalTool.openssl.run([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.file("key.pem"), "-out", certificate, "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        guard made.status == 0 else { throw ToolMissing(name: "openssl req: \(made.stderr)") }
        let der = try ExternalTool.openssl.run(["x509", "-in", certificate, "-noout", "-pubkey"])
        let spki = try ExternalTool.openssl.run(["pkey", "-pubin", "-outform", "DER"], input: der.stdoutData)
        pin = "sha256//" + Data(SHA256Tool.digest(spki.stdoutData)).base64EncodedString()
        let script = try dir.write("server.py", Self.script)
        process.executableURL = URL(fileURLWithPath: ExternalTool.python3.path!)
        process.arguments = [script, tls ? "tls" : "plain", certificate, dir.file("key.pem")]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let line = String(decoding: pipe.fileHandleForReading.availableDataUntilNewline(), as: UTF8.self)
        guard let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw ToolMissing(name: "test server") }
        self.port = port
    }

    deinit {
        // SIGKILL: the test process may hold SIGTERM blocked, and a child inherits that mask.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func url(_ path: String, host: String = "localhost", scheme: String = "https") -> String { "\(scheme)://\(host):\(port)\(path)" }
}

enum SHA256Tool {
    static func digest(_ data: Data) -> [UInt8] {
        let result = try? ExternalTool.openssl.run(["dgst", "-sha256", "-binary"], input: data)
        return Array(result?.stdoutData ?? Data())
    }
}

extension FileHandle {
    func availableDataUntilNewline() -> Data {
        var data = Data()
        while true {
            let chunk = readData(ofLength: 1)
            if chunk.isEmpty || chunk == Data([10]) { return data }
            data.append(chunk)
        }
    }
}

/// Captures log messages, to check that turning verification off warns.
final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    static let lock = NSLock()
    nonisolated(unsafe) static var messages: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        Self.lock.withLock { Self.messages.append("\(event.level): \(event.message)") }
    }
}

@Suite("HTTPS client over libcurl, against a real TLS server on loopback", .serialized,
       .enabled(if: (ExternalTool.openssl.isAvailable && ExternalTool.python3.isAvailable) || TestEnvironment.toolsRequired,
                "openssl and python3 are needed for the loopback server"))
struct HTTPClientTests {
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    func client(_ trust: HTTPTrust, _ change: (inout HTTPClient.Configuration) -> Void = { _ in }) throws -> HTTPClient {
        var configuration = HTTPClient.Configuration(trust: trust)
        change(&configuration)
        return try HTTPClient(configuration: configuration, logger: logger)
    }

    @Test("with the server's CA file: GET and POST with a JSON body, headers, User-Agent, keep-alive reuse")
    func rightCA() throws {
        let server = try LoopbackServer()
        let http = try client(.caFile(server.certificate))
        for _ in 0..<3 {
            let get = try http.send(HTTPRequest(url: server.url("/ok"), headers: [("X-Test", "yes")]))
            #expect(get.status == 200)
            #expect(get.header("Content-Type") == "application/json")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(get.body)) as? [String: Any])
            #expect(object["method"] as? String == "GET")
            #expect(object["ua"] as? String == "certvault/0.1.0")
            #expect(object["x"] as? String == "yes")
        }
        let post = try http.send(HTTPRequest(method: "POST", url: server.url("/ok"), headers: [("Content-Type", "application/json")],
                                             body: Array(#"{"userCode":"ABC"}"#.utf8)))
        let echoed = try #require(try JSONSerialization.jsonObject(with: Data(post.body)) as? [String: Any])
        #expect(echoed["method"] as? String == "POST")
        #expect(echoed["body"] as? String == #"{"userCode":"ABC"}"#)
        let put = try http.send(HTTPRequest(method: "PUT", url: server.url("/ok"), body: Array("x".utf8)))
        #expect((try JSONSerialization.jsonObject(with: Data(put.body)) as? [String: Any])?["method"] as? String == "PUT")
    }

    @Test("the system CA store alone does not trust a self-signed server, and says what to do")
    func systemStoreFails() throws {
        let server = try LoopbackServer()
        let error = try #require(throws: CertVaultError.self) { try client(.systemStore).send(HTTPRequest(url: server.url("/ok"))) }
        #expect(error.code == .httpTLS)
        #expect(error.hint?.contains("CA file") == true)
    }

    @Test("the right pin passes; the right CA with a wrong pin fails with the pin's message")
    func pins() throws {
        let server = try LoopbackServer()
        let good = try client(.pinnedPublicKey(server.pin, caFile: server.certificate)).send(HTTPRequest(url: server.url("/ok")))
        #expect(good.status == 200)
        let wrong = "sha256//" + Data(repeating: 7, count: 32).base64EncodedString()
        let error = try #require(throws: CertVaultError.self) {
            try client(.pinnedPublicKey(wrong, caFile: server.certificate)).send(HTTPRequest(url: server.url("/ok")))
        }
        #expect(error.code == .httpTLS)
        #expect(error.hint?.contains("does not match the pin") == true)
    }

    @Test("verification off works only when asked, and warns every time")
    func insecureWarns() throws {
        let server = try LoopbackServer()
        CapturingLogHandler.lock.withLock { CapturingLogHandler.messages = [] }
        let logger = Logger(label: "capture") { _ in CapturingLogHandler() }
        let http = try HTTPClient(configuration: .init(trust: .insecureNoVerification), logger: logger)
        #expect(try http.send(HTTPRequest(url: server.url("/ok"))).status == 200)
        #expect(try http.send(HTTPRequest(url: server.url("/ok"))).status == 200)
        let warnings = CapturingLogHandler.lock.withLock { CapturingLogHandler.messages.filter { $0.contains("TLS verification is OFF") } }
        #expect(warnings.count == 2)
    }

    @Test("HTTP errors are responses; redirects are not followed")
    func statuses() throws {
        let server = try LoopbackServer()
        let http = try client(.caFile(server.certificate))
        let error = try http.send(HTTPRequest(url: server.url("/error")))
        #expect(error.status == 500)
        #expect(String(decoding: error.body, as: UTF8.self) == #"{"message":"boom"}"#)
        let redirect = try http.send(HTTPRequest(url: server.url("/redirect")))
        #expect(redirect.status == 302)
        #expect(redirect.header("location") == "/ok")
    }

    @Test("a response over the size cap and a server slower than the timeout are clear errors")
    func limits() throws {
        let server = try LoopbackServer()
        let small = try client(.caFile(server.certificate)) { $0.maximumResponseBytes = 1_000_000 }
        let big = try #require(throws: CertVaultError.self) { try small.send(HTTPRequest(url: server.url("/big"))) }
        #expect(big.reason.contains("larger than 1000000 bytes"))
        let impatient = try client(.caFile(server.certificate)) { $0.totalTimeout = 1 }
        let slow = try #require(throws: CertVaultError.self) { try impatient.send(HTTPRequest(url: server.url("/slow"))) }
        #expect(slow.code == .httpTransport)
        #expect(slow.hint?.contains("did not answer in time") == true)
    }

    @Test("plain http: refused unless asked, and then only to loopback; a closed port says what to check")
    func plainHTTP() throws {
        let server = try LoopbackServer(tls: false)
        let refused = try #require(throws: CertVaultError.self) {
            try client(.systemStore).send(HTTPRequest(url: server.url("/ok", host: "127.0.0.1", scheme: "http")))
        }
        #expect(refused.code == .httpURL)
        let allowed = try client(.systemStore) { $0.allowPlainHTTPToLoopback = true }
        #expect(try allowed.send(HTTPRequest(url: server.url("/ok", host: "127.0.0.1", scheme: "http"))).status == 200)
        let remote = try #require(throws: CertVaultError.self) { try allowed.send(HTTPRequest(url: "http://example.com/")) }
        #expect(remote.code == .httpURL)
        let closed = try #require(throws: CertVaultError.self) {
            try client(.systemStore).send(HTTPRequest(url: "https://127.0.0.1:1/"))
        }
        #expect(closed.code == .httpConnect)
        #expect(closed.hint?.contains("Nothing accepts connections") == true)
    }

    @Test("proxies: never for loopback; https_proxy, then all_proxy, for other hosts; no_proxy honoured; credentials never shown")
    func proxies() throws {
        let environment = ["https_proxy": "http://user:pw@proxy.example:3128", "http_proxy": "http://p2:8080", "all_proxy": "http://all:1"]
        let client = try client(.systemStore) { $0.proxyEnvironment = environment }
        for loopback in ["https://127.0.0.1:4443/", "http://127.0.0.1:4443/", "https://localhost/", "https://[::1]:4443/", "http://127.9.9.9/"] {
            #expect(client.proxy(for: loopback) == nil, "\(loopback)")
        }
        #expect(client.proxy(for: "https://vb365.example:4443/") == "http://proxy.example:3128")
        let allOnly = try self.client(.systemStore) { $0.proxyEnvironment = ["ALL_PROXY": "socks5h://s:1080"] }
        #expect(allOnly.proxy(for: "https://vb365.example/") == "socks5h://s:1080")
        for exception in ["vb365.example", ".example", "example", "*", "other, vb365.example"] {
            let excepted = try self.client(.systemStore) { $0.proxyEnvironment = environment.merging(["no_proxy": exception]) { $1 } }
            #expect(excepted.proxy(for: "https://vb365.example/") == nil, "\(exception)")
        }
        let notExcepted = try self.client(.systemStore) { $0.proxyEnvironment = environment.merging(["NO_PROXY": "ample, other.example"]) { $1 } }
        #expect(notExcepted.proxy(for: "https://vb365.example/") != nil)
        #expect(try self.client(.systemStore) { $0.proxyEnvironment = [:] }.proxy(for: "https://vb365.example/") == nil)
    }

    @Test("plain HTTP to loopback with http_proxy pointing at a listener: the listener is never contacted")
    func loopbackNotProxied() throws {
        let server = try LoopbackServer(tls: false)
        let listener = try LoopbackServer(tls: false)  // stands in for a proxy: any request to it would be answered 404
        let http = try client(.systemStore) {
            $0.allowPlainHTTPToLoopback = true
            $0.proxyEnvironment = ["http_proxy": "http://127.0.0.1:\(listener.port)", "all_proxy": "http://127.0.0.1:\(listener.port)"]
        }
        let answer = try http.send(HTTPRequest(method: "POST", url: server.url("/ok", host: "127.0.0.1", scheme: "http"), body: Array("pw=secret".utf8)))
        #expect(answer.status == 200, "a proxied request would have reached the listener, which answers 404")
    }

    @Test("a secret body is sent from secure memory as it is")
    func secretBody() throws {
        let server = try LoopbackServer()
        let http = try client(.caFile(server.certificate))
        let secret = Array("grant_type=password&password=p%40ss".utf8).withUnsafeBytes { SecretBytes(copying: $0) }
        let answer = try http.send(HTTPRequest(method: "POST", url: server.url("/ok"), secretBody: secret))
        let echoed = try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
        #expect(echoed["body"] as? String == "grant_type=password&password=p%40ss")
    }
}

