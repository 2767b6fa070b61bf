internal import CCertVaultShims
internal import CCurl
internal import CertVaultCore
public import Logging
internal import Foundation

/// An HTTPS client on libcurl: one easy handle, reused for keep-alive; TLS verification on
/// unless explicitly turned off; connect and total timeouts; a cap on response size; no
/// redirects; TLS 1.2 or later only.
///
/// Trust: with a CA file, that file alone (libcurl's built-in CA folder is switched off, so a
/// CA installed on the machine cannot stand in for the server's); without one, the system store.
///
/// Proxies: never for a loopback address (plain HTTP to loopback must not carry the password to a
/// proxy); for other hosts the usual environment variables (`https_proxy`, `HTTPS_PROXY`,
/// `all_proxy`, `ALL_PROXY`, and `no_proxy`/`NO_PROXY`), read by this client (not left to
/// libcurl) so that ``proxy(for:)`` says exactly which proxy a request goes through. HTTPS goes
/// through a proxy as a `CONNECT` tunnel: TLS still ends at the server and is verified as above.
///
/// Not thread-safe: one client per task or thread. Its calls block; run them off Swift's
/// cooperative pool (``HTTPClientExecutor``).
public final class HTTPClient {
    /// Settings of a client.
    public struct Configuration: Sendable {
        public var trust: HTTPTrust
        /// Seconds to establish the TCP and TLS connection.
        public var connectTimeout: Double
        /// Seconds for the whole exchange.
        public var totalTimeout: Double
        /// The largest response body accepted.
        public var maximumResponseBytes: Int
        /// Whether plain `http://` is allowed, and then only to a loopback address.
        public var allowPlainHTTPToLoopback: Bool
        /// The User-Agent header.
        public var userAgent: String
        /// Where proxy settings are read from: nil for the process's environment.
        public var proxyEnvironment: [String: String]?

        /// Defaults: system CA store, 10 s to connect, 60 s in all, 8 MiB responses, HTTPS only.
        public init(trust: HTTPTrust = .systemStore, connectTimeout: Double = 10, totalTimeout: Double = 60,
                    maximumResponseBytes: Int = 8 << 20, allowPlainHTTPToLoopback: Bool = false,
                    userAgent: String = "certvault/0.1.0", proxyEnvironment: [String: String]? = nil) {
            self.trust = trust
            self.connectTimeout = connectTimeout
            self.totalTimeout = totalTimeout
            self.maximumResponseBytes = maximumResponseBytes
            self.allowPlainHTTPToLoopback = allowPlainHTTPToLoopback
            self.userAgent = userAgent
            self.proxyEnvironment = proxyEnvironment
        }
    }

    /// The one owner of the curl easy handle.
    private final class Handle {
        let pointer: UnsafeMutableRawPointer
        init() throws {
            CurlRuntime.ensureInitialized()
            guard let handle = curl_easy_init() else {
                throw CertVaultError(.httpTransport, "libcurl could not create a handle.")
            }
            pointer = handle
        }
        deinit { curl_easy_cleanup(pointer) }
    }

    /// Collects the response while curl delivers it.
    private final class Sink {
        var body: [UInt8] = []
        var headerLines: [String] = []
        var limit: Int
        var overLimit = false
        init(limit: Int) { self.limit = limit }
    }

    public let configuration: Configuration
    private let handle: Handle
    private let logger: Logger

    /// Creates a client.
    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        handle = try Handle()
    }

    /// Sends a request and waits for the whole response.
    ///
    /// - Throws: ``CertVaultError`` `http-url` for a URL that is not allowed, `http-transport`
    ///   with curl's code and message and what to do (wrong CA, pin mismatch, unreachable host,
    ///   timeout, response too large). HTTP error statuses are responses, not errors.
    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        try checkURL(request.url)
        let curl = handle.pointer
        curl_easy_reset(curl)
        // curl keeps this pointer until the handle is reset, so it must not be a Swift array.
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer {
            _ = CCertVaultShims_curl_easy_setopt_pointer(curl, CURLOPT_ERRORBUFFER, nil)
            errorBuffer.deallocate()
        }
        let sink = Sink(limit: configuration.maximumResponseBytes)
        let sinkPointer = Unmanaged.passRetained(sink).toOpaque()
        defer { Unmanaged<Sink>.fromOpaque(sinkPointer).release() }
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }

        func set(_ option: CURLoption, _ value: Int) { _ = CCertVaultShims_curl_easy_setopt_long(curl, option, value) }
        func set(_ option: CURLoption, _ value: String) { _ = CCertVaultShims_curl_easy_setopt_string(curl, option, value) }

        set(CURLOPT_URL, request.url)
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_FOLLOWLOCATION, 0)
        set(CURLOPT_PROTOCOLS_STR, configuration.allowPlainHTTPToLoopback ? "https,http" : "https")
        set(CURLOPT_USERAGENT, configuration.userAgent)
        set(CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout * 1000))
        set(CURLOPT_TIMEOUT_MS, Int((request.totalTimeout ?? configuration.totalTimeout) * 1000))
        set(CURLOPT_ACCEPT_ENCODING, "")
        // The proxy is decided here, not by libcurl's own reading of the environment.
        let proxy = Self.proxy(for: request.url, environment: configuration.proxyEnvironment ?? ProcessInfo.processInfo.environment)
        if let proxy {
            set(CURLOPT_PROXY, proxy)
            set(CURLOPT_NOPROXY, "")
        } else {
            set(CURLOPT_PROXY, "")  // "" is libcurl's "no proxy", environment variables included
            set(CURLOPT_NOPROXY, "*")
        }
        if !request.mayBeRepeated { set(CURLOPT_FRESH_CONNECT, 1) }
        _ = CCertVaultShims_curl_easy_setopt_pointer(curl, CURLOPT_ERRORBUFFER, errorBuffer)
        try applyTrust(curl)

        switch request.method {
        case "GET": set(CURLOPT_HTTPGET, 1)
        case "POST": set(CURLOPT_POST, 1)
        default: set(CURLOPT_CUSTOMREQUEST, request.method)
        }
        let bodyCount = request.secretBody?.count ?? request.body?.count
        if let bodyCount {
            _ = CCertVaultShims_curl_easy_setopt_off_t(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyCount))
        }
        for (name, value) in request.headers + [("Expect", "")] {
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        _ = CCertVaultShims_curl_easy_setopt_slist(curl, CURLOPT_HTTPHEADER, headerList)

        _ = CCertVaultShims_curl_easy_setopt_write_function(curl, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            if sink.body.count + length > sink.limit {
                sink.overLimit = true
                return 0  // makes curl stop with CURLE_WRITE_ERROR
            }
            if let data { sink.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length)) }
            return length
        }
        _ = CCertVaultShims_curl_easy_setopt_pointer(curl, CURLOPT_WRITEDATA, sinkPointer)
        _ = CCertVaultShims_curl_easy_setopt_write_function(curl, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            if let data { sink.headerLines.append(String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)) }
            return length
        }
        _ = CCertVaultShims_curl_easy_setopt_pointer(curl, CURLOPT_HEADERDATA, sinkPointer)

        // The body is handed over as a pointer (CURLOPT_POSTFIELDS, not COPYPOSTFIELDS): it may
        // hold a password, and COPYPOSTFIELDS would keep a copy for the handle's life. Known limit:
        // libcurl 7.x itself appends a body under 64 KiB to its request buffer and frees that
        // buffer without wiping it (docs/vb365-simulator.md). The pointer is valid for exactly the
        // duration of the perform.
        func perform(_ raw: UnsafeRawBufferPointer) -> CURLcode {
            _ = CCertVaultShims_curl_easy_setopt_pointer(curl, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            defer { _ = CCertVaultShims_curl_easy_setopt_pointer(curl, CURLOPT_POSTFIELDS, nil) }
            return curl_easy_perform(curl)
        }
        let code: CURLcode
        if let secret = request.secretBody {
            code = secret.withUnsafeBytes(perform)
        } else if let body = request.body {
            code = body.withUnsafeBytes(perform)
        } else {
            code = curl_easy_perform(curl)
        }
        guard code == CURLE_OK else {
            let detail = String(validatingCString: errorBuffer) ?? ""
            throw transportError(code, detail: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail,
                                 url: request.url, overLimit: sink.overLimit, proxy: proxy.map(Self.withoutCredentials))
        }
        var status = 0
        _ = CCertVaultShims_curl_easy_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: Self.parseHeaders(sink.headerLines), body: sink.body)
    }

    private func applyTrust(_ curl: UnsafeMutableRawPointer) throws {
        // Trust settings must take effect or the request must not go out.
        func set(_ option: CURLoption, _ value: Int) throws {
            let result = CCertVaultShims_curl_easy_setopt_long(curl, option, value)
            guard result == CURLE_OK else { throw Self.unsupported(option, result) }
        }
        func set(_ option: CURLoption, _ value: String) throws {
            let result = CCertVaultShims_curl_easy_setopt_string(curl, option, value)
            guard result == CURLE_OK else { throw Self.unsupported(option, result) }
        }
        func clearCAPath() throws {
            // libcurl's built-in CA folder (/etc/ssl/certs on Debian) would otherwise be trusted
            // beside the CA file: any CA installed on the machine could impersonate the server.
            let result = CCertVaultShims_curl_easy_setopt_pointer(curl, CURLOPT_CAPATH, nil)
            guard result == CURLE_OK else { throw Self.unsupported(CURLOPT_CAPATH, result) }
        }
        try set(CURLOPT_SSL_VERIFYPEER, 1)
        try set(CURLOPT_SSL_VERIFYHOST, 2)
        try set(CURLOPT_SSLVERSION, Self.minimumTLSVersion)
        switch configuration.trust {
        case .systemStore:
            break
        case .caFile(let path):
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw CertVaultError(.httpTransport, "The CA file '\(path)' cannot be read.", hint: "Check the path given for the server's CA certificate.")
            }
            try set(CURLOPT_CAINFO, path)
            try clearCAPath()
        case .pinnedPublicKey(let pin, let caFile):
            guard pin.hasPrefix("sha256//") else {
                throw CertVaultError(.httpTransport, "The public-key pin must look like 'sha256//<base64>'.",
                                     hint: "Take it from the simulator's output or compute it with openssl (see docs).")
            }
            if let caFile {
                try set(CURLOPT_CAINFO, caFile)
                try clearCAPath()
            }
            try set(CURLOPT_PINNEDPUBLICKEY, pin)
        case .insecureNoVerification:
            logger.warning("TLS verification is OFF: the server's identity is not checked and anyone on the network path can read the credentials sent")
            try set(CURLOPT_SSL_VERIFYPEER, 0)
            try set(CURLOPT_SSL_VERIFYHOST, 0)
        }
    }

    /// TLS 1.2 or later, whatever the system's OpenSSL configuration allows.
    static let minimumTLSVersion = Int(CURL_SSLVERSION_TLSv1_2)

    /// The proxy a request to `url` goes through, without any user name or password in it; nil
    /// for none (always nil for a loopback address).
    public func proxy(for url: String) -> String? { Self.proxy(for: url, configuration: configuration) }

    /// The proxy a client with `configuration` uses for `url`, without credentials; nil for none.
    public static func proxy(for url: String, configuration: Configuration) -> String? {
        proxy(for: url, environment: configuration.proxyEnvironment ?? ProcessInfo.processInfo.environment).map(withoutCredentials)
    }

    /// The proxy for `url` from proxy environment variables, as libcurl reads them: for https
    /// `https_proxy`, `HTTPS_PROXY`, then `all_proxy`, `ALL_PROXY`; for http only the lower-case
    /// `http_proxy` (the upper-case one can be set by a CGI request), then `all_proxy`; none when
    /// `no_proxy`/`NO_PROXY` lists the host (`*`, the host, or a domain it ends in). Never one
    /// for loopback.
    static func proxy(for url: String, environment: [String: String]) -> String? {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), let host = parsed.host?.lowercased() else { return nil }
        if isLoopback(host) { return nil }
        let names = scheme == "https" ? ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] : ["http_proxy", "all_proxy", "ALL_PROXY"]
        guard let proxy = names.lazy.compactMap({ environment[$0] }).first(where: { !$0.isEmpty }) else { return nil }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let exceptions = (environment["no_proxy"] ?? environment["NO_PROXY"] ?? "").split(separator: ",")
        for entry in exceptions {
            var name = entry.trimmingCharacters(in: .whitespaces).lowercased()
            if name == "*" { return nil }
            while name.hasPrefix(".") { name.removeFirst() }
            if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
            if !name.isEmpty && (bare == name || bare.hasSuffix("." + name)) { return nil }
        }
        return proxy
    }

    /// `http://user:secret@proxy:3128` → `http://proxy:3128`.
    static func withoutCredentials(_ proxy: String) -> String {
        guard let at = proxy.lastIndex(of: "@") else { return proxy }
        let start = proxy.range(of: "://").map(\.upperBound) ?? proxy.startIndex
        guard start <= at else { return proxy }
        return String(proxy[..<start]) + proxy[proxy.index(after: at)...]
    }

    private static func unsupported(_ option: CURLoption, _ result: CURLcode) -> CertVaultError {
        CertVaultError(.httpTLS, "This libcurl cannot apply TLS setting \(option.rawValue): \(String(cString: curl_easy_strerror(result))).",
                       hint: "Install libcurl with OpenSSL (Debian's libcurl4-openssl-dev); nothing was sent.")
    }

    private func checkURL(_ text: String) throws {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else {
            throw CertVaultError(.httpURL, "'\(text)' is not a valid URL.", hint: "Use https://HOST:4443/v8/ style URLs.")
        }
        switch scheme {
        case "https":
            return
        case "http":
            let loopback = Self.isLoopback(host)
            guard configuration.allowPlainHTTPToLoopback, loopback else {
                throw CertVaultError(.httpURL, "Plain http:// is refused for '\(host)': credentials would cross the network unencrypted.",
                                     hint: loopback ? "Allow plain HTTP to loopback explicitly (certvault: --allow-plain-http-loopback), or use https://."
                                        : "Use https://.")
            }
        default:
            throw CertVaultError(.httpURL, "The URL scheme '\(scheme)' is not supported.", hint: "Use https://.")
        }
    }

    /// `localhost`, an IPv4 address in 127.0.0.0/8, or ::1; a name that merely starts with
    /// "127." is not one.
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, bare, &v6) == 1 { return bare == "::1" || withUnsafeBytes(of: v6) { Array($0) } == [UInt8](repeating: 0, count: 15) + [1] }
        return false
    }

    private func transportError(_ code: CURLcode, detail: String, url: String, overLimit: Bool, proxy: String?) -> CertVaultError {
        var hint: String
        switch code {
        case CURLE_PEER_FAILED_VERIFICATION:
            hint = "The server's certificate is not trusted. Give its CA certificate (the VB365 server's self-signed certificate) as a CA file (--ca-file), optionally with its public-key pin (--pin) as well."
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            hint = "The server's public key does not match the pin: the pin is outdated, or this is not the server you expect."
        case CURLE_OPERATION_TIMEDOUT:
            hint = "The server did not answer in time; check that it runs and that nothing blocks the port, or raise the timeout (certvault: --timeout SECONDS, --connect-timeout SECONDS)."
        case CURLE_COULDNT_CONNECT:
            hint = "Nothing accepts connections there; check host and port (VB365's REST port is 4443 by default) and firewalls."
        case CURLE_COULDNT_RESOLVE_HOST:
            hint = "The host name does not resolve; check the spelling or DNS."
        case CURLE_WRITE_ERROR where overLimit:
            return CertVaultError(.httpTransport, "The response from \(url) is larger than \(configuration.maximumResponseBytes) bytes; it was cut off.",
                                  hint: "This is not what the API returns; check the URL.", underlying: "curl \(code.rawValue)")
        case CURLE_SSL_CACERT_BADFILE:
            hint = "The CA file could not be used; check that it holds PEM certificates."
        case CURLE_SSL_CONNECT_ERROR:
            hint = "The TLS handshake failed. certvault requires TLS 1.2 or later; a server that offers only older versions must be upgraded (VB365 supports TLS 1.2)."
        default:
            hint = "See curl's message; check the URL and the server."
        }
        if let proxy {
            hint += " The request went through the proxy \(proxy) (from https_proxy/all_proxy); check the proxy, or list the host in no_proxy."
        }
        let kind: CertVaultError.Code
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .httpConnect
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CONNECT_ERROR: kind = .httpTLS
        default: kind = .httpTransport
        }
        return CertVaultError(kind, "The request to \(url) failed: \(detail).", hint: hint, underlying: "curl error \(code.rawValue)")
    }

    static func parseHeaders(_ lines: [String]) -> [(String, String)] {
        // Only the last response's headers count (a 100 Continue may precede it).
        var result: [(String, String)] = []
        for line in lines {
            if line.hasPrefix("HTTP/") {
                result = []
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            result.append((name, value))
        }
        return result
    }
}

/// libcurl's global initialisation, once per process.
///
/// libcurl is given an allocator that wipes every block before freeing it (and moves a block
/// that grows, wiping the old one): libcurl copies a request body into its own buffers (a body
/// under 64 KiB is appended to the request-header buffer, which grows by reallocation), and those
/// copies of a password would otherwise stay in freed memory. OpenSSL's buffers are not
/// affected: it encrypts a TLS record in place, so no plaintext is left there.
enum CurlRuntime {
    private static let initialized: Bool = curl_global_init_mem(
        Int(CURL_GLOBAL_DEFAULT),
        { size in malloc(size) },
        { pointer in CurlRuntime.wipeAndFree(pointer) },
        { pointer, size in CurlRuntime.reallocWiping(pointer, size) },
        { text in text.flatMap { strdup($0) } },
        { count, size in calloc(count, size) }) == CURLE_OK

    static func ensureInitialized() {
        precondition(initialized, "curl_global_init failed")
    }

    static func wipeAndFree(_ pointer: UnsafeMutableRawPointer?) {
        guard let pointer else { return }
        explicit_bzero(pointer, malloc_usable_size(pointer))
        free(pointer)
    }

    static func reallocWiping(_ pointer: UnsafeMutableRawPointer?, _ size: Int) -> UnsafeMutableRawPointer? {
        guard let pointer else { return malloc(size) }
        let old = malloc_usable_size(pointer)
        if size <= old { return pointer }  // fits where it is: nothing left behind
        guard let fresh = malloc(size) else { return nil }
        fresh.copyMemory(from: pointer, byteCount: old)
        wipeAndFree(pointer)
        return fresh
    }
}
