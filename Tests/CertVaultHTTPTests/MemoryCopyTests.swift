import CertVaultCore
import CertVaultHTTP
import CertVaultTesting
import Foundation
import Logging
import Testing

/// Scans this process's readable memory (/proc/self/maps, /proc/self/mem) for a byte pattern.
enum ProcessMemory {
    /// Occurrences of `pattern`, except at the addresses in `excluding` (the secure buffer, the
    /// pattern itself).
    static func count(_ pattern: [UInt8], excluding: Set<UInt>) -> Int {
        guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return -1 }
        let fd = open("/proc/self/mem", O_RDONLY)
        guard fd >= 0 else { return -1 }
        defer { close(fd) }
        var found = 0
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk + pattern.count)
        // The buffer reads memory that includes itself: what it holds there is not a copy.
        let bufferStart = buffer.withUnsafeBytes { UInt(bitPattern: $0.baseAddress!) }
        let bufferRange = bufferStart..<(bufferStart + UInt(buffer.count))
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, fields[1].hasPrefix("r") else { continue }
            if fields.count >= 6, fields[5].hasPrefix("[v") { continue }  // [vvar], [vsyscall], [vdso]
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16) else { continue }
            var offset = start
            while offset < end {
                let length = Int(min(UInt(chunk + pattern.count), end - offset))
                let read = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(Int64(bitPattern: UInt64(offset)))) }
                if read <= 0 { break }
                if read >= pattern.count {
                    for index in 0...(read - pattern.count) where buffer[index] == pattern[0] {
                        if buffer[index..<(index + pattern.count)].elementsEqual(pattern), !excluding.contains(offset + UInt(index)), !bufferRange.contains(offset + UInt(index)) {
                            found += 1
                            if ProcessInfo.processInfo.environment["CERTVAULT_MEMSCAN_DEBUG"] != nil { print("copy at \(String(offset + UInt(index), radix: 16)) in \(line)") }
                        }
                    }
                }
                // Zeroed after each search, so that reading the buffer's own memory finds nothing stale.
                buffer.withUnsafeMutableBytes { _ = memset($0.baseAddress!, 0, $0.count) }
                offset += UInt(chunk)
            }
        }
        return found
    }
}

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
