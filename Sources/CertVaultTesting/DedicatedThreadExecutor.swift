import Foundation

/// A task executor with one thread of its own, for async code under test that must keep running
/// while other tests block Swift's cooperative pool.
///
/// Swift Testing runs synchronous tests on the cooperative pool, which has one thread per core:
/// on a 2-core machine two long synchronous tests (the documentation examples, the crash-safety
/// runs) hold it for minutes, and an async loop such as the onboarding worker then makes no
/// progress at all, though in the service nothing blocks that pool. Running the loop with this
/// executor as its preference (`Task(executorPreference:)`) keeps the test about the code, not
/// about the other tests.
public final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    /// Starts the thread; it lives as long as the process.
    public init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
