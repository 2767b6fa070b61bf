public import CertVaultConfiguration
import CertVaultCore
import CertVaultIssuer
import Foundation
#if canImport(Glibc)
import Glibc
#endif
public import NIOSSL

/// How the service speaks TLS, made ready at start from the configuration's `[tls]` table:
///
/// - `files`: the PEM certificate chain and private key named in the configuration;
/// - `self-signed`: a fresh RSA-2048 key and certificate made by certvault's own issuer at
///   each start, for the listen host, `localhost`, `127.0.0.1` and `::1`; the key stays in
///   memory (BoringSSL's, inside swift-nio-ssl) and is never written; the certificate is
///   written to ``certificateFile`` for clients (`curl --cacert`), and its SHA-256
///   fingerprint is printed;
/// - `plain-loopback`: no TLS, refused unless the listen address is a loopback address.
public struct ServerTLS: Sendable {
    /// The TLS configuration for the listener; nil for plain HTTP on loopback.
    public let configuration: TLSConfiguration?
    /// SHA-256 of the server certificate (the leaf), upper-case hex with colons, as
    /// `openssl x509 -fingerprint -sha256` shows it; nil for plain HTTP.
    public let fingerprintSHA256: String?
    /// The server's public-key pin as curl spells it (`sha256//BASE64`); nil for plain HTTP.
    public let publicKeyPin: String?
    /// The certificate (PEM) a client trusts: the self-signed one as written at start, or the
    /// configured chain file; nil for plain HTTP.
    public let certificateFile: String?

    /// `https` or `http`.
    public var scheme: String { configuration == nil ? "http" : "https" }

    /// Prepares TLS as the configuration says.
    ///
    /// - Parameters:
    ///   - listenHost: the address the service listens on (the self-signed certificate names it).
    ///   - selfSignedFile: where the self-signed certificate is written (PEM, 0600, replaced at
    ///     each start).
    /// - Throws: ``CertVaultError`` `invalid-input` for plain HTTP on a non-loopback address,
    ///   and when a certificate or key file cannot be read or does not fit the other.
    public static func make(_ tls: ServiceConfiguration.TLS, listenHost: String, selfSignedFile: String) throws -> ServerTLS {
        switch tls {
        case .plainLoopback:
            guard isLoopback(listenHost) else {
                throw CertVaultError(
                    .invalidInput, "tls.mode = \"plain-loopback\" serves plain HTTP, but listen.host is \(listenHost), not a loopback address.",
                    hint: "Listen on 127.0.0.1 or ::1 (behind a TLS-terminating proxy on the same host), or use tls.mode = \"files\" or \"self-signed\".")
            }
            return ServerTLS(configuration: nil, fingerprintSHA256: nil, publicKeyPin: nil, certificateFile: nil)
        case .selfSigned:
            var hosts = ["localhost", "127.0.0.1", "::1"]
            if !hosts.contains(listenHost) && listenHost != "0.0.0.0" && listenHost != "::" { hosts.insert(listenHost, at: 0) }
            let identity = try TLSServerIdentity.makeSelfSigned(commonName: "certvault serve (self-signed)", hosts: hosts, days: 30)
            let certificate = try NIOSSLCertificate(bytes: Array(identity.certificatePEM.utf8), format: .pem)
            let key = try identity.privateKeyPEM.withUnsafeBytes { try NIOSSLPrivateKey(bytes: Array($0), format: .pem) }
            // Replaced at each start: the key it belongs to lived only in the last process.
            unlink(selfSignedFile)
            try PrivateFiles.writeNewFileAtomically(selfSignedFile, bytes: Array(identity.certificatePEM.utf8))
            return ServerTLS(
                configuration: .makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(key)),
                fingerprintSHA256: colons(identity.fingerprintSHA256), publicKeyPin: identity.publicKeyPin,
                certificateFile: selfSignedFile)
        case .files(let certificatePath, let keyPath):
            let chain: [NIOSSLCertificate]
            do {
                chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
            } catch {
                throw CertVaultError(.invalidInput, "Cannot read the TLS certificate chain '\(certificatePath)' (tls.certificate).",
                                     hint: "Give a readable PEM file with the server certificate first, then its intermediates.")
            }
            guard let leaf = chain.first else {
                throw CertVaultError(.invalidInput, "The TLS certificate file '\(certificatePath)' holds no certificate.",
                                     hint: "Give a PEM file with the server certificate first, then its intermediates.")
            }
            let key = try readKey(keyPath)
            let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                         privateKey: .privateKey(key))
            do {
                _ = try NIOSSLContext(configuration: configuration)  // checks that the key fits the certificate
            } catch {
                throw CertVaultError(.invalidInput, "The TLS private key '\(keyPath)' does not belong to the certificate '\(certificatePath)'.",
                                     hint: "Give the key the certificate was issued for (compare 'openssl x509 -pubkey' with 'openssl pkey -pubout').",
                                     underlying: "\(error)")
            }
            let spki = try leaf.extractPublicKey().toSPKIBytes()
            return ServerTLS(
                configuration: configuration,
                fingerprintSHA256: colons(Hex.upper(try TLSServerIdentity.sha256(try leaf.toDERBytes()))),
                publicKeyPin: "sha256//" + Base64.encode(try TLSServerIdentity.sha256(spki)),
                certificateFile: certificatePath)
        }
    }

    /// Whether `host` is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// Reads the key through the project's check for secret files (0600, owned by us, no link).
    static func readKey(_ path: String) throws -> NIOSSLPrivateKey {
        let fd = try PrivateFiles.openPrivateFile(path, what: "The TLS private key (tls.key)")
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        defer {
            bytes.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
            buffer.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        }
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                throw CertVaultError(.fileSystem, "Cannot read the TLS private key '\(path)'.", underlying: PrivateFiles.errnoText())
            }
            if count == 0 { break }
            bytes += buffer.prefix(count)
            guard bytes.count <= 1 << 20 else {
                throw CertVaultError(.invalidInput, "The TLS private key '\(path)' is larger than 1 MiB: not a PEM key.")
            }
        }
        do {
            return try NIOSSLPrivateKey(bytes: bytes, format: .pem)
        } catch {
            throw CertVaultError(.invalidInput, "Cannot read the TLS private key '\(path)' (tls.key).",
                                 hint: "Give an unencrypted PEM private key (PKCS#8 or traditional) readable by the service's user only.")
        }
    }

    static func colons(_ hex: String) -> String {
        var pairs: [String] = []
        var rest = Substring(hex)
        while !rest.isEmpty {
            pairs.append(String(rest.prefix(2)))
            rest = rest.dropFirst(2)
        }
        return pairs.joined(separator: ":")
    }
}
