import Foundation

/// Scans this process's readable memory (/proc/self/maps, /proc/self/mem) for a byte pattern.
public enum ProcessMemory {
    /// Occurrences of `pattern`, except at the addresses in `excluding` (the secure buffer, the
    /// pattern itself).
    public static func count(_ pattern: [UInt8], excluding: Set<UInt>) -> Int {
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
                            if ProcessInfo.processInfo.environment["CERTVAULT_MEMSCAN_DEBUG"] != nil {
                                print("copy at \(String(offset + UInt(index), radix: 16)) in \(line)")
                            }
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
