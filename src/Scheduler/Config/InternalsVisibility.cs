using System.Runtime.CompilerServices;

// The test project's assembly is named Scheduler.Scheduler.Tests; it tests the internal rules and commands directly.
[assembly: InternalsVisibleTo("Scheduler.Scheduler.Tests")]
