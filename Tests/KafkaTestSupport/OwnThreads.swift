public import Foundation
public import Testing

/// Runs each test of a suite on a thread of a pool of its own instead of Swift's cooperative pool.
///
/// The broker-backed tests block: they wait for child processes, poll librdkafka and sleep between
/// checks. On the cooperative pool, which is one thread per core, two such tests on a two-core
/// machine hold every thread while they mostly wait, and everything else queues behind them. On
/// this pool they wait side by side; `TOKENTRAIL_TEST_THREADS` sets its width (default 6).
/// The test keeps its task, so `#expect` and the suite's other traits work as usual.
public struct OwnThreadsTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        testCase == nil ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withTaskExecutorPreference(BlockingTestExecutor.shared) { try await function() }
    }
}

extension Trait where Self == OwnThreadsTrait {
    /// The suite's tests block on processes or the broker: run them on threads of their own.
    public static var ownThreads: Self { OwnThreadsTrait() }
}

/// A fixed set of threads taking jobs in order; a job that blocks holds only its own thread.
final class BlockingTestExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = BlockingTestExecutor(
        width: ProcessInfo.processInfo.environment["TOKENTRAIL_TEST_THREADS"].flatMap(Int.init).map { max(1, $0) } ?? 6)

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0

    init(width: Int) {
        for n in 0..<width {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "test-blocking-\(n)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            head += 1
            if head == jobs.count { jobs.removeAll(keepingCapacity: true); head = 0 }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
