import Synchronization

/// Limits failed dashboard sign-ins per client address: after ``limit`` failures within ``window``
/// seconds, further attempts from that address are refused (429) until the oldest of them is
/// ``window`` seconds old. A successful sign-in clears the address's failures.
///
/// The address is the TCP peer's: behind a reverse proxy every client shares the proxy's address,
/// and `X-Forwarded-For` is not trusted (anyone can send it), so the limit then applies to all of
/// them together. API tokens carry 256 random bits, so the limit is there to keep the audit log and
/// the token store's hashing from being flooded, not to make guessing feasible or not.
/// The table is bounded: beyond ``capacity`` addresses the one with the oldest last failure goes.
final class LoginThrottle: Sendable {
    let limit: Int
    let window: Int64
    let capacity: Int
    private let failures = Mutex<[String: [Int64]]>([:])

    init(limit: Int = 5, window: Int64 = 600, capacity: Int = 10_000) {
        self.limit = limit
        self.window = window
        self.capacity = capacity
    }

    /// Seconds until `address` may try again, or nil when it may now.
    func retryAfter(_ address: String, now: Int64) -> Int64? {
        failures.withLock { table -> Int64? in
            let recent = (table[address] ?? []).filter { $0 > now - window }
            table[address] = recent.isEmpty ? nil : recent
            guard recent.count >= limit, let oldest = recent.min() else { return nil }
            return max(1, oldest + window - now)
        }
    }

    /// Counts a failed sign-in from `address`.
    func fail(_ address: String, now: Int64) {
        failures.withLock { table in
            var recent = (table[address] ?? []).filter { $0 > now - window }
            recent.append(now)
            if recent.count > limit { recent.removeFirst(recent.count - limit) }
            if table[address] == nil, table.count >= capacity,
                let stalest = table.min(by: { ($0.value.last ?? 0) < ($1.value.last ?? 0) })?.key
            {
                table[stalest] = nil
            }
            table[address] = recent
        }
    }

    /// Clears `address`'s failures (it signed in).
    func succeed(_ address: String) {
        failures.withLock { _ = $0.removeValue(forKey: address) }
    }
}
