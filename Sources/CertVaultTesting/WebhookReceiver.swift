import Foundation

/// A webhook receiver on loopback: Python's http.server in a subprocess. It checks every
/// request's signature with the key (HMAC-SHA256 over "t.body", timestamp within 300 s), answers
/// 401 to a bad one, and otherwise as its mode says: `fail:N` answers 500 to the first N requests
/// of each event id, then 200; `sleep:S` waits S seconds before answering 200; `ok` answers 200.
/// Every request goes to a log the test reads.
public final class WebhookReceiver: @unchecked Sendable {
    /// One request as the receiver logged it.
    public struct Request: Decodable, Sendable {
        public var id: String
        public var type: String
        public var attempt: String
        public var path: String
        public var status: Int
        public var signatureValid: Bool
        public var body: String
        public var signature: String
    }

    static let script = #"""
        import hashlib, hmac, http.server, json, sys, threading, time
        key = open(sys.argv[1], "rb").read()
        log_path, mode = sys.argv[2], sys.argv[3]
        seen = {}
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                fields = dict(p.split("=", 1) for p in self.headers.get("Certvault-Signature", "").split(",") if "=" in p)
                stamp = fields.get("t", "0")
                expected = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(expected, fields.get("v1", "")) and abs(time.time() - int(stamp)) <= 300
                event = self.headers.get("Certvault-Event-Id", "")
                with lock:
                    seen[event] = seen.get(event, 0) + 1
                    count = seen[event]
                status = 200
                if not valid:
                    status = 401
                elif mode.startswith("fail:") and count <= int(mode[5:]):
                    status = 500
                elif mode.startswith("sleep:"):
                    time.sleep(float(mode[6:]))
                with lock, open(log_path, "a") as log:
                    log.write(json.dumps({"id": event, "type": self.headers.get("Certvault-Event-Type", ""),
                                          "attempt": self.headers.get("Certvault-Delivery-Attempt", ""), "path": self.path,
                                          "status": status, "signatureValid": valid, "body": body.decode(),
                                          "signature": self.headers.get("Certvault-Signature", "")}) + "\n")
                reply = b"nope" if status != 200 else b"ok"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#

    let process = Process()
    /// The port it listens on (127.0.0.1).
    public let port: Int
    let logPath: String
    /// `http://127.0.0.1:PORT/hooks`.
    public var url: String { "http://127.0.0.1:\(port)/hooks" }

    /// Starts the receiver with the key in `keyFile`, logging into `directory`.
    public init(directory: TemporaryDirectory, keyFile: String, mode: String) throws {
        guard let python = ExternalTool.python3.path else { throw ToolMissing(name: "python3") }
        let scriptPath = try directory.write("receiver-\(UUID().uuidString).py", Self.script)
        logPath = directory.file("receiver-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [scriptPath, keyFile, logPath, mode]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(10) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            throw ToolMissing(name: "the python webhook receiver (it did not print its port)")
        }
        self.port = port
    }

    /// Every request received so far.
    public func requests() throws -> [Request] {
        let text = try String(contentsOfFile: logPath, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
    }

    /// Stops the subprocess.
    public func stop() {
        // SIGKILL: a test process may pass an ignored SIGTERM on to its children.
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

