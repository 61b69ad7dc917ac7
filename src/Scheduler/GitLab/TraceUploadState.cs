namespace Scheduler.GitLab;

/// <summary>One PATCH of the trace: bytes <c>[Start, Start + Length)</c>, sent with <c>Content-Range: Start-End</c>.</summary>
public sealed record TracePatch(long Start, int Length)
{
    /// <summary>The inclusive last byte, as <c>Content-Range</c> names it.</summary>
    public long End => Start + Length - 1;

    public string ContentRange => $"{Start}-{End}";
}

/// <summary>
/// What of the trace GitLab holds, and so what to send next. <see cref="Confirmed"/> is the number of bytes GitLab has
/// acknowledged; every byte is sent once in order, and a 416 moves the offset to the size GitLab reports, so a lost answer
/// (GitLab already has the bytes) and a server-side reset (GitLab has fewer) both recover with no gap and no duplicate.
/// Immutable: each answer gives a new state.
/// </summary>
public sealed record TraceUploadState(long Confirmed)
{
    /// <summary>GitLab Runner's <c>DefaultTracePatchLimit</c>.</summary>
    public const int MaxPatchBytes = 1024 * 1024;

    public static readonly TraceUploadState Start = new(0);

    /// <summary>The next patch when <paramref name="available"/> bytes of trace exist locally; null when all are confirmed
    /// (an empty patch is never sent) or when GitLab claims more than exists here.</summary>
    public TracePatch? Next(long available, int maxPatchBytes = MaxPatchBytes)
    {
        if (available <= Confirmed || maxPatchBytes <= 0)
        {
            return null;
        }

        return new TracePatch(Confirmed, (int)Math.Min(available - Confirmed, maxPatchBytes));
    }

    /// <summary>A 202 for <paramref name="patch"/>. An answer to a patch that no longer starts at the confirmed offset is
    /// stale and changes nothing.</summary>
    public TraceUploadState Accepted(TracePatch patch) =>
        patch.Start == Confirmed ? this with { Confirmed = patch.Start + patch.Length } : this;

    /// <summary>A 416: GitLab holds <paramref name="serverSize"/> bytes (the second number of its <c>Range: 0-N</c>).</summary>
    public TraceUploadState RangeMismatch(long serverSize) => this with { Confirmed = Math.Max(0, serverSize) };

    /// <summary>A 412 on the final update (legacy trace validation failure): send everything again from 0.</summary>
    public TraceUploadState Reset() => this with { Confirmed = 0 };

    /// <summary>GitLab holds exactly the local trace.</summary>
    public bool IsComplete(long available) => Confirmed == available;

    /// <summary>GitLab claims bytes that do not exist here: the local trace cannot continue it.</summary>
    public bool IsAhead(long available) => Confirmed > available;
}
