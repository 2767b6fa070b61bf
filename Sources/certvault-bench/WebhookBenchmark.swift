import ArgumentParser
import CertVaultCore
import CertVaultHTTP
import CertVaultOnboarding
import CertVaultServer
import CertVaultWebhooks
import Foundation
import Logging
import Synchronization

/// Webhook delivery latency on loopback: from the producer's `record` (durable in the outbox:
/// file and folder fsynced) to the receiver having read the whole request, through the service's
/// path (the outbox wakes ``WebhookDeliveryService``, which signs and POSTs with libcurl). The
/// floor, in the same run: the same libcurl client POSTing the same body to the same receiver
/// directly (no outbox, no fsync). Then a burst: many events recorded at once, until all arrived.
struct WebhookBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhooks",
        abstract: "Webhook delivery latency from record to a loopback receiver, against a bare libcurl POST.")

    @Option(help: "Events sent one after another for the latency figures.")
    var events: Int = 300

    @Option(help: "Events recorded at once for the burst figure.")
    var burst: Int = 1000

    @Option(help: "Where to make the outbox (default: a new folder under the temporary folder).")
    var work: String?

    func run() async throws {
        let base = work ?? NSTemporaryDirectory() + "/certvault-webhook-bench-\(getpid())"
        try PrivateFiles.makePrivateDirectory(base)
        defer { if work == nil { try? FileManager.default.removeItem(atPath: base) } }
        PrivateFiles.durableWrites = true
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let receiver = try BenchReceiver()
        let url = "http://127.0.0.1:\(receiver.port)/hooks"
        let key = SecretBytes.random(count: 32)
        let signer = try WebhookSigner(key: key)
        let settings = WebhookDeliverer.Settings(timeout: 5, initialBackoff: 0.05, allowPlainHTTPLoopback: true)

        // The floor: the same client, body and receiver, no outbox.
        let client = try HTTPClient(configuration: settings.clientConfiguration, logger: logger)
        var floor: [Double] = []
        for index in 0..<events {
            let event = Self.event(index)
            let started = Self.now()
            _ = try WebhookDeliverer.send(event, to: url, signer: signer, client: client, attempt: 1, timestamp: UTCTime.now())
            guard let arrived = receiver.arrival(of: event.id) else { throw ValidationError("the receiver did not log \(event.id)") }
            floor.append(arrived - started)
        }

        let outbox = try WebhookOutbox(path: "\(base)/outbox", receivers: [url], logger: logger)
        let deliverer = try WebhookDeliverer(outbox: outbox, signer: signer, settings: settings, logger: logger)
        let service = WebhookDeliveryService(deliverer: deliverer, pollInterval: 1, metrics: nil, logger: logger)
        let running = Task { try await service.run() }
        var latencies: [Double] = []
        var recordTimes: [Double] = []
        var afterRecord: [Double] = []
        for index in 0..<events {
            let event = Self.event(10_000_000 + index)
            let started = Self.now()
            try outbox.record(event)
            recordTimes.append(Self.now() - started)
            let deadline = started + 10
            var arrived: Double?
            while arrived == nil && Self.now() < deadline {
                arrived = receiver.arrival(of: event.id)
                if arrived == nil { try await Task.sleep(for: .microseconds(200)) }
            }
            guard let arrived else { throw ValidationError("event \(index) did not arrive within 10 s") }
            latencies.append(arrived - started)
            afterRecord.append(arrived - started - recordTimes[recordTimes.count - 1])
        }

        // The burst: every event durable first, then delivered by the service's passes.
        let burstStart = Self.now()
        let ids = (0..<burst).map { Self.event(20_000_000 + $0).id }
        for (index, id) in ids.enumerated() {
            var event = Self.event(20_000_000 + index)
            event.id = id
            try outbox.record(event)
        }
        let recorded = Self.now() - burstStart
        while receiver.count(of: ids) < burst && Self.now() < burstStart + 120 {
            try await Task.sleep(for: .milliseconds(5))
        }
        let burstSeconds = Self.now() - burstStart
        running.cancel()
        try await running.value
        receiver.stop()

        func ms(_ values: [Double], _ p: Double) -> String {
            let sorted = values.sorted()
            return String(format: "%7.2f", sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000)
        }
        print("certvault webhook benchmark: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(events) events one after another, "
              + "receiver on loopback (plain HTTP), outbox in \(base)")
        print("latencies in ms                                   p50      p95      p99      max")
        print("bare libcurl POST (floor)                      \(ms(floor, 0.5))  \(ms(floor, 0.95))  \(ms(floor, 0.99))  \(ms(floor, 1))")
        print("record() alone (file + folder fsync)           \(ms(recordTimes, 0.5))  \(ms(recordTimes, 0.95))  \(ms(recordTimes, 0.99))  \(ms(recordTimes, 1))")
        print("after record() returned, to receiver           \(ms(afterRecord, 0.5))  \(ms(afterRecord, 0.95))  \(ms(afterRecord, 0.99))  \(ms(afterRecord, 1))")
        print("record() called to receiver (service path)     \(ms(latencies, 0.5))  \(ms(latencies, 0.95))  \(ms(latencies, 0.99))  \(ms(latencies, 1))")
        let ratio = latencies.sorted()[latencies.count / 2] / max(floor.sorted()[floor.count / 2], 1e-9)
        print(String(format: "median ratio service path / floor: %.1fx", ratio))
        print(String(format: "burst: %d events recorded in %.2f s (%.0f/s durable), all %d delivered after %.2f s (%.0f events/s end to end)",
                     burst, recorded, Double(burst) / recorded, receiver.count(of: ids), burstSeconds, Double(burst) / burstSeconds))
    }

    static func event(_ index: Int) -> LifecycleEvent {
        LifecycleEvent(kind: .onboardingCompleted, tenant: try? TenantID("bench-\(index % 1000)"), occurredAt: UTCTime.dateTime(UTCTime.now()),
                       data: ["state": "onboarded", "organizationName": "bench-\(index).onmicrosoft.com", "generation": "1"])
    }

    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}

/// A loopback HTTP/1.1 receiver for the benchmark: one thread per connection, keep-alive, answers
/// 200 to every POST and notes when each event id's request had been read whole (monotonic clock).
/// Just enough HTTP for libcurl's requests; a benchmark fixture, not a server.
final class BenchReceiver: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let arrivals = Mutex([String: Double]())

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { throw ValidationError("cannot listen on loopback") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        Thread.detachNewThread { [self] in
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 { return }
                Thread.detachNewThread { self.serve(connection) }
            }
        }
    }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    func arrival(of id: String) -> Double? { arrivals.withLock { $0[id] } }
    func count(of ids: [String]) -> Int { arrivals.withLock { table in ids.filter { table[$0] != nil }.count } }

    private func serve(_ connection: Int32) {
        defer { close(connection) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        let separator: [UInt8] = [13, 10, 13, 10]
        while true {
            // One request: the head, then Content-Length bytes.
            var headEnd: Int?
            while headEnd == nil {
                if let range = Self.find(separator, in: buffer) { headEnd = range; break }
                let got = read(connection, &chunk, chunk.count)
                if got <= 0 { return }
                buffer.append(contentsOf: chunk[0..<got])
            }
            let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
            var length = 0
            var id = ""
            for line in head.split(separator: "\r\n") {
                let lower = line.lowercased()
                if lower.hasPrefix("content-length:") { length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0 }
                if lower.hasPrefix("certvault-event-id:") { id = line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces) }
            }
            let total = headEnd! + 4 + length
            while buffer.count < total {
                let got = read(connection, &chunk, chunk.count)
                if got <= 0 { return }
                buffer.append(contentsOf: chunk[0..<got])
            }
            let now = WebhookBenchmark.now()
            arrivals.withLock { $0[id] = now }
            buffer.removeFirst(total)
            let reply = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)
            _ = reply.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if Array(haystack[index..<index + needle.count]) == needle { return index }
        }
        return nil
    }
}
