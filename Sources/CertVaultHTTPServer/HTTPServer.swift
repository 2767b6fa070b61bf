internal import COpenSSL
internal import CCertVaultShims
public import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

/// A request as the server read it.
public struct HTTPServerRequest: Sendable {
    /// The method, upper-case as sent.
    public let method: String
    /// The path without the query, percent-decoded.
    public let path: String
    /// The query parameters, percent-decoded (`+` as space); the last value wins.
    public let query: [String: String]
    /// Headers with lower-cased names, in order.
    public let headers: [(String, String)]
    /// The body.
    public let body: [UInt8]

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0 == lower }?.1
    }
}

/// A response to send.
public struct HTTPServerResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response from already encoded bytes.
    public static func json(_ status: Int, _ body: [UInt8]) -> HTTPServerResponse {
        HTTPServerResponse(status: status, headers: [("Content-Type", "application/json; charset=utf-8")], body: body)
    }
}

/// What the handler wants done with a request.
public enum HTTPServerAction: Sendable {
    /// Send this response (after `delay` seconds, for slow-server tests).
    case respond(HTTPServerResponse, delay: Double = 0)
    /// Close the connection without answering: the request was processed, the client never hears.
    case dropConnection
    /// Send the status line, the headers and half the body, then close the connection.
    case truncate(HTTPServerResponse)
}

/// A small HTTP/1.1 server with keep-alive, over TLS (OpenSSL's libssl) or plain TCP, one
/// thread per connection. It serves certvault's loopback tools (the VB365 simulator); it is not
/// meant for the open internet: no chunked request bodies, no pipelining, no HTTP/2.
public final class HTTPServer: @unchecked Sendable {
    /// The TLS certificate and key, both in PEM.
    public struct TLSSettings: Sendable {
        public let certificatePEM: String
        public let privateKeyPEM: SecretBytes
        public init(certificatePEM: String, privateKeyPEM: SecretBytes) {
            self.certificatePEM = certificatePEM
            self.privateKeyPEM = privateKeyPEM
        }
    }

    public typealias Handler = @Sendable (HTTPServerRequest) -> HTTPServerAction

    /// The largest request body accepted (larger ones get 413).
    public static let maximumBodyBytes = 16 << 20
    private static let maximumHeaderBytes = 64 << 10

    public let host: String
    /// The port, known once ``start()`` returned (0 asks the system for a free one).
    public private(set) var port: Int
    private let handler: Handler
    private let context: OpaquePointer?
    private var listener: Int32 = -1
    private let lock = NSLock()
    private var connections: Set<Int32> = []
    private var stopped = false
    private let idleTimeout: Int

    /// Creates a server; `tls` nil means plain HTTP.
    public init(host: String = "127.0.0.1", port: Int = 0, tls: TLSSettings?, idleTimeoutSeconds: Int = 60,
                handler: @escaping Handler) throws {
        self.host = host
        self.port = port
        self.handler = handler
        self.idleTimeout = idleTimeoutSeconds
        if let tls {
            context = try Self.makeContext(tls)
        } else {
            context = nil
        }
    }

    deinit {
        stop()
        if let context { SSL_CTX_free(context) }
    }

    /// True when the server speaks TLS.
    public var usesTLS: Bool { context != nil }

    /// The base URL, e.g. `https://127.0.0.1:4443`.
    public var baseURL: String { "\(usesTLS ? "https" : "http")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// Binds, listens and starts accepting on a thread of its own.
    public func start() throws {
        // A peer that closes first must not kill the process through SIGPIPE (libssl writes
        // with write(2)).
        signal(SIGPIPE, SIG_IGN)
        let family = host.contains(":") ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Self.systemError("create a socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var bound: Int32
        if family == AF_INET6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else {
                close(fd)
                throw CertVaultError(.invalidInput, "'\(host)' is not an IPv6 address.", hint: "Give an IP address to listen on, such as 127.0.0.1.")
            }
            bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
                close(fd)
                throw CertVaultError(.invalidInput, "'\(host)' is not an IPv4 address.", hint: "Give an IP address to listen on, such as 127.0.0.1.")
            }
            bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            let error = Self.systemError("listen on \(host):\(port)")
            close(fd)
            throw error
        }
        if port == 0 {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            port = withUnsafePointer(to: &address) { pointer in
                family == AF_INET6
                    ? pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
                    : pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        }
        listener = fd
        let thread = Thread { [weak self] in self?.acceptLoop(fd) }
        thread.name = "http-accept"
        thread.start()
    }

    /// Stops accepting and closes every open connection.
    ///
    /// Only descriptors still registered are touched, under the lock that their owners take to
    /// unregister and close them, so a descriptor number reused elsewhere is never shut down.
    /// The accept thread closes the listener itself once `accept` fails.
    public func stop() {
        lock.withLock {
            guard !stopped else { return }
            stopped = true
            if listener >= 0 { shutdown(listener, Int32(SHUT_RDWR)) }
            for connection in connections { shutdown(connection, Int32(SHUT_RDWR)) }
        }
    }

    private func acceptLoop(_ fd: Int32) {
        defer { close(fd) }
        while true {
            let connection = accept(fd, nil, nil)
            if connection < 0 {
                if lock.withLock({ stopped }) { return }
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            let accepted: Bool = lock.withLock {
                guard !stopped else { return false }
                connections.insert(connection)
                return true
            }
            guard accepted else {
                close(connection)
                return
            }
            var timeout = timeval(tv_sec: idleTimeout, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var one: Int32 = 1
            setsockopt(connection, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let thread = Thread { [self] in
                serve(connection)
                lock.withLock {
                    connections.remove(connection)
                    close(connection)
                }
            }
            thread.name = "http-connection"
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        let stream: Stream
        if let context {
            guard let ssl = SSL_new(context) else { return }
            SSL_set_fd(ssl, fd)
            guard SSL_accept(ssl) == 1 else {
                SSL_free(ssl)
                return
            }
            stream = Stream(fd: fd, ssl: ssl)
        } else {
            stream = Stream(fd: fd, ssl: nil)
        }
        defer { stream.close() }
        while let request = readRequest(stream) {
            switch request {
            case .failure(let status, let message):
                write(HTTPServerResponse(status: status, headers: [("Content-Type", "text/plain"), ("Connection", "close")],
                                         body: Array(message.utf8)), to: stream)
                return
            case .success(let request, let keepAlive):
                switch handler(request) {
                case .respond(var response, let delay):
                    if delay > 0 { Thread.sleep(forTimeInterval: delay) }
                    if !keepAlive { response.headers.append(("Connection", "close")) }
                    guard write(response, to: stream), keepAlive else { return }
                case .dropConnection:
                    stream.abort()
                    return
                case .truncate(let response):
                    var head = response
                    head.body = Array(response.body.prefix(response.body.count / 2))
                    _ = write(head, to: stream, declaredLength: response.body.count)
                    stream.abort()
                    return
                }
            }
        }
    }

    private enum ReadResult {
        case success(HTTPServerRequest, keepAlive: Bool)
        case failure(Int, String)
    }

    /// Reads one request; nil when the peer closed the connection or went idle.
    private func readRequest(_ stream: Stream) -> ReadResult? {
        var buffer = stream.leftover
        stream.leftover = []
        var headerEnd: Int?
        while headerEnd == nil {
            if let end = Self.find([13, 10, 13, 10], in: buffer) {
                headerEnd = end
                break
            }
            guard buffer.count < Self.maximumHeaderBytes else { return .failure(431, "Request headers too large\n") }
            guard let chunk = stream.read(), !chunk.isEmpty else { return nil }
            buffer.append(contentsOf: chunk)
        }
        guard let headerEnd else { return nil }
        let head = String(decoding: buffer[..<headerEnd], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else { return .failure(400, "Malformed request line\n") }
        var headers: [(String, String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return .failure(400, "Malformed header line\n") }
            headers.append((line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        func header(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
        if header("transfer-encoding") != nil { return .failure(501, "Chunked request bodies are not supported; send Content-Length\n") }
        let length: Int
        if let text = header("content-length") {
            guard let value = Int(text), value >= 0 else { return .failure(400, "Bad Content-Length\n") }
            guard value <= Self.maximumBodyBytes else { return .failure(413, "Request body too large\n") }
            length = value
        } else {
            length = 0
        }
        var body = Array(buffer[(headerEnd + 4)...])
        while body.count < length {
            guard let chunk = stream.read(), !chunk.isEmpty else { return nil }
            body.append(contentsOf: chunk)
        }
        if body.count > length {
            stream.leftover = Array(body[length...])
            body.removeSubrange(length...)
        }
        let target = String(requestLine[1])
        let pathPart = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query: [String: String] = [:]
        if pathPart.count == 2 {
            for pair in pathPart[1].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = Self.percentDecode(String(parts[0]))
                query[name] = parts.count == 2 ? Self.percentDecode(String(parts[1])) : ""
            }
        }
        let connection = header("connection")?.lowercased()
        let keepAlive = requestLine[2] == "HTTP/1.1" ? connection != "close" : connection == "keep-alive"
        let request = HTTPServerRequest(method: String(requestLine[0]), path: Self.percentDecode(String(pathPart[0])),
                                        query: query, headers: headers, body: body)
        return .success(request, keepAlive: keepAlive)
    }

    @discardableResult
    private func write(_ response: HTTPServerResponse, to stream: Stream, declaredLength: Int? = nil) -> Bool {
        var head = "HTTP/1.1 \(response.status) \(Self.reason(response.status))\r\n"
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(declaredLength ?? response.body.count)\r\n\r\n"
        return stream.write(Array(head.utf8) + response.body)
    }

    /// Form and query decoding: `+` is a space, `%XX` a byte.
    public static func percentDecode(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return start }
        }
        return nil
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 413: "Payload Too Large"
        case 415: "Unsupported Media Type"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status"
        }
    }

    private static func makeContext(_ tls: TLSSettings) throws -> OpaquePointer {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw failure("create a TLS context") }
        var ok = CCertVaultShims_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1
        ok = ok && tls.certificatePEM.withCString { pem -> Bool in
            guard let bio = BIO_new_mem_buf(pem, -1) else { return false }
            defer { BIO_free(bio) }
            guard let certificate = PEM_read_bio_X509(bio, nil, nil, nil) else { return false }
            defer { X509_free(certificate) }
            return SSL_CTX_use_certificate(context, certificate) == 1
        }
        ok = ok && tls.privateKeyPEM.withUnsafeBytes { bytes -> Bool in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return false }
            defer { BIO_free(bio) }
            guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else { return false }
            defer { EVP_PKEY_free(key) }
            return SSL_CTX_use_PrivateKey(context, key) == 1 && SSL_CTX_check_private_key(context) == 1
        }
        guard ok else {
            SSL_CTX_free(context)
            throw failure("load the server certificate and key")
        }
        return context
    }

    private static func failure(_ what: String) -> CertVaultError {
        let code = ERR_get_error()
        var text = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &text, text.count)
        ERR_clear_error()
        let detail = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return CertVaultError(.httpServer, "The server could not \(what).", hint: "This is a bug or a broken OpenSSL installation.",
                              underlying: detail)
    }

    private static func systemError(_ what: String) -> CertVaultError {
        let reason = String(cString: strerror(errno))
        return CertVaultError(.httpServer, "Could not \(what): \(reason).",
                              hint: errno == EADDRINUSE ? "Another program uses the port; choose another with --port." : "Check the address and port.")
    }
}

/// One connection's byte stream, over TLS or plain TCP; one owner of the `SSL` object.
private final class Stream {
    let fd: Int32
    let ssl: OpaquePointer?
    var leftover: [UInt8] = []
    private var buffer = [UInt8](repeating: 0, count: 16 << 10)

    init(fd: Int32, ssl: OpaquePointer?) {
        self.fd = fd
        self.ssl = ssl
    }

    func read() -> [UInt8]? {
        let count = buffer.withUnsafeMutableBytes { raw -> Int in
            if let ssl { return Int(SSL_read(ssl, raw.baseAddress, Int32(raw.count))) }
            return recv(fd, raw.baseAddress, raw.count, 0)
        }
        guard count > 0 else { return nil }
        return Array(buffer.prefix(count))
    }

    func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { raw -> Int in
                if let ssl { return Int(SSL_write(ssl, raw.baseAddress, Int32(raw.count))) }
                return send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    /// Closes without a TLS close_notify, as a crashed or cut-off server would.
    func abort() {
        shutdown(fd, Int32(SHUT_RDWR))
    }

    func close() {
        if let ssl {
            SSL_shutdown(ssl)
            SSL_free(ssl)
        }
    }
}

extension CertVaultError.Code {
    /// certvault's own HTTP server could not start or serve.
    public static let httpServer = CertVaultError.Code("http-server")
}
