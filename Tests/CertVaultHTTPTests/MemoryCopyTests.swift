import CertVaultCore
import CertVaultHTTP
import CertVaultTesting
import Foundation
import Logging
import Testing

@Suite("copies of a secret body in memory", .serialized,
       .enabled(if: (ExternalTool.openssl.isAvailable && ExternalTool.python3.isAvailable) || TestEnvironment.toolsRequired,
                "openssl and python3 are needed for the loopback server"))
struct MemoryCopyTests {
    @Test("a request with a secret body leaves no copy of it in libcurl's (or OpenSSL's) freed buffers", arguments: [false, true])
    func copiesLeft(tls: Bool) throws {
        let server = try LoopbackServer(tls: tls)
        // 32 random bytes as hex, written straight into secure memory: the pattern exists nowhere else.
        let random = SecretBytes.random(count: 32)
        let hex = Array("0123456789abcdef".utf8)
        let marker = Array("password=".utf8)
        let secret = SecretBytes(count: marker.count + 64) { target in
            for (index, byte) in marker.enumerated() { target[index] = byte }
            random.withUnsafeBytes { bytes in
                for (index, byte) in bytes.enumerated() {
                    target[marker.count + 2 * index] = hex[Int(byte >> 4)]
                    target[marker.count + 2 * index + 1] = hex[Int(byte & 0xF)]
                }
            }
        }
        // The pattern to look for: the hex digits, inverted so that the needle itself is not a copy.
        var needle = secret.withUnsafeBytes { raw in (marker.count..<raw.count).map { ~raw[$0] } }
        defer { SecureWipe.wipe(&needle) }
        let secureAddress = secret.withUnsafeBytes { UInt(bitPattern: $0.baseAddress! + marker.count) }
        func scan() -> Int {
            var pattern = [UInt8](repeating: 0, count: needle.count)
            for index in needle.indices { pattern[index] = ~needle[index] }
            defer { SecureWipe.wipe(&pattern) }
            let patternAddress = pattern.withUnsafeBytes { UInt(bitPattern: $0.baseAddress!) }
            return ProcessMemory.count(pattern, excluding: [secureAddress, patternAddress])
        }
        let before = scan()
        #expect(before == 0, "only the secure buffer holds it")
        do {
            let http = try HTTPClient(configuration: .init(trust: tls ? .caFile(server.certificate) : .systemStore, allowPlainHTTPToLoopback: true),
                                      logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
            let answer = try http.send(HTTPRequest(method: "POST", url: server.url("/error", host: "127.0.0.1", scheme: tls ? "https" : "http"),
                                                   secretBody: secret))
            #expect(answer.status == 500)
            #expect(scan() == 0, "libcurl keeps a copy of the request body while the client lives")
        }
        let after = scan()
        #expect(after == 0, "libcurl left \(after) copies of the request body in freed memory")
    }
}
