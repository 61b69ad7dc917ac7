using Tomlyn.Syntax;

namespace Scheduler.Config;

/// <summary>
/// A TOML document as nested tables, arrays and scalars that keep their source positions, so that every
/// validation message can point at the line and column the user wrote.
/// </summary>
internal abstract class TomlNode
{
    protected TomlNode(SourcePosition position) => Position = position;

    public SourcePosition Position { get; }

    /// <summary>The TOML type name, for messages such as "expected an integer, found a string".</summary>
    public abstract string TypeName { get; }
}

internal sealed class TomlTableNode(SourcePosition position) : TomlNode(position)
{
    private readonly List<TomlEntry> _entries = [];

    /// <summary>Entries in file order.</summary>
    public IReadOnlyList<TomlEntry> Entries => _entries;

    public override string TypeName => "a table";

    public TomlEntry? Find(string key) => _entries.Find(entry => entry.Key == key);

    public void Add(TomlEntry entry) => _entries.Add(entry);
}

internal sealed class TomlArrayNode(SourcePosition position, bool isArrayOfTables) : TomlNode(position)
{
    public List<TomlNode> Items { get; } = [];

    /// <summary>True for <c>[[name]]</c> arrays, which later <c>[name.sub]</c> headers extend.</summary>
    public bool IsArrayOfTables { get; } = isArrayOfTables;

    public override string TypeName => "an array";
}

internal enum TomlScalarKind
{
    String,
    Integer,
    Float,
    Boolean,
    DateTime,
}

internal sealed class TomlScalarNode(SourcePosition position, TomlScalarKind kind, object value) : TomlNode(position)
{
    public TomlScalarKind Kind { get; } = kind;

    /// <summary>string, long, double, bool, or the source text of a date-time.</summary>
    public object Value { get; } = value;

    public override string TypeName => Kind switch
    {
        TomlScalarKind.String => "a string",
        TomlScalarKind.Integer => "an integer",
        TomlScalarKind.Float => "a float",
        TomlScalarKind.Boolean => "a boolean",
        _ => "a date-time",
    };
}

/// <summary>A key and its value; <see cref="KeyPosition"/> is where the key (or the table header) is written.</summary>
internal sealed record TomlEntry(string Key, SourcePosition KeyPosition, TomlNode Value);

/// <summary>Builds a <see cref="TomlTableNode"/> tree from Tomlyn's syntax tree.</summary>
internal static class TomlTreeBuilder
{
    /// <summary>
    /// Builds the tree of a document that Tomlyn parsed without errors. Tomlyn's validation already rejects
    /// redefined keys and tables; conflicts found here anyway are reported rather than thrown.
    /// </summary>
    public static TomlTableNode Build(DocumentSyntax document, DiagnosticCollector diagnostics)
    {
        var root = new TomlTableNode(new SourcePosition(1, 1));
        foreach (var keyValue in document.KeyValues)
        {
            AddKeyValue(root, keyValue, diagnostics);
        }

        foreach (var table in document.Tables)
        {
            if (table.Name is null)
            {
                continue;
            }

            var path = KeyParts(table.Name);
            var header = PositionOf(table);
            if (table is TableArraySyntax)
            {
                var parent = Navigate(root, path[..^1], diagnostics);
                var last = path[^1];
                var existing = parent?.Find(last.Name);
                TomlArrayNode? array;
                if (existing is null)
                {
                    array = new TomlArrayNode(header, isArrayOfTables: true);
                    parent?.Add(new TomlEntry(last.Name, header, array));
                }
                else
                {
                    array = existing.Value as TomlArrayNode;
                    if (array is null || !array.IsArrayOfTables)
                    {
                        diagnostics.Error(header, last.Name, "already defined as a value; cannot be an array of tables");
                        continue;
                    }
                }

                var element = new TomlTableNode(header);
                array?.Items.Add(element);
                AddItems(element, table, diagnostics);
            }
            else
            {
                var target = Navigate(root, path, diagnostics, header);
                if (target is not null)
                {
                    AddItems(target, table, diagnostics);
                }
            }
        }

        return root;
    }

    private static void AddItems(TomlTableNode target, TableSyntaxBase table, DiagnosticCollector diagnostics)
    {
        foreach (var keyValue in table.Items)
        {
            AddKeyValue(target, keyValue, diagnostics);
        }
    }

    private static void AddKeyValue(TomlTableNode table, KeyValueSyntax keyValue, DiagnosticCollector diagnostics)
    {
        if (keyValue.Key is null || keyValue.Value is null)
        {
            return;
        }

        var parts = KeyParts(keyValue.Key);
        var target = Navigate(table, parts[..^1], diagnostics);
        var last = parts[^1];
        if (target is null)
        {
            return;
        }

        if (target.Find(last.Name) is not null)
        {
            diagnostics.Error(last.Position, last.Name, "key is defined twice");
            return;
        }

        target.Add(new TomlEntry(last.Name, last.Position, Convert(keyValue.Value, diagnostics)));
    }

    /// <summary>Walks (creating as needed) the tables named by <paramref name="parts"/>; an array of tables stands for its last element.</summary>
    private static TomlTableNode? Navigate(
        TomlTableNode table, IReadOnlyList<KeyPart> parts, DiagnosticCollector diagnostics, SourcePosition? header = null)
    {
        var current = table;
        foreach (var part in parts)
        {
            var existing = current.Find(part.Name);
            if (existing is null)
            {
                var created = new TomlTableNode(header ?? part.Position);
                current.Add(new TomlEntry(part.Name, header ?? part.Position, created));
                current = created;
                continue;
            }

            switch (existing.Value)
            {
                case TomlTableNode nested:
                    current = nested;
                    break;
                case TomlArrayNode { IsArrayOfTables: true, Items.Count: > 0 } array when array.Items[^1] is TomlTableNode lastElement:
                    current = lastElement;
                    break;
                default:
                    diagnostics.Error(part.Position, part.Name, "already defined as a value; cannot be a table");
                    return null;
            }
        }

        return current;
    }

    private static TomlNode Convert(ValueSyntax value, DiagnosticCollector diagnostics)
    {
        var position = PositionOf(value);
        switch (value)
        {
            case StringValueSyntax text:
                return new TomlScalarNode(position, TomlScalarKind.String, text.Value ?? "");
            case IntegerValueSyntax integer:
                return new TomlScalarNode(position, TomlScalarKind.Integer, integer.Value);
            case FloatValueSyntax number:
                return new TomlScalarNode(position, TomlScalarKind.Float, number.Value);
            case BooleanValueSyntax boolean:
                return new TomlScalarNode(position, TomlScalarKind.Boolean, boolean.Value);
            case ArraySyntax array:
                var node = new TomlArrayNode(position, isArrayOfTables: false);
                foreach (var item in array.Items)
                {
                    if (item.Value is not null)
                    {
                        node.Items.Add(Convert(item.Value, diagnostics));
                    }
                }

                return node;
            case InlineTableSyntax inline:
                var table = new TomlTableNode(position);
                foreach (var item in inline.Items)
                {
                    if (item.KeyValue is not null)
                    {
                        AddKeyValue(table, item.KeyValue, diagnostics);
                    }
                }

                return table;
            default:
                return new TomlScalarNode(position, TomlScalarKind.DateTime, value.ToString()?.Trim() ?? "");
        }
    }

    private readonly record struct KeyPart(string Name, SourcePosition Position);

    private static KeyPart[] KeyParts(KeySyntax key)
    {
        var parts = new List<KeyPart>();
        if (key.Key is not null)
        {
            parts.Add(new KeyPart(KeyName(key.Key), PositionOf(key.Key)));
        }

        foreach (var dotted in key.DotKeys)
        {
            if (dotted.Key is not null)
            {
                parts.Add(new KeyPart(KeyName(dotted.Key), PositionOf(dotted.Key)));
            }
        }

        return [.. parts];
    }

    private static string KeyName(BareKeyOrStringValueSyntax key) => key switch
    {
        BareKeySyntax bare => bare.Key?.Text ?? "",
        StringValueSyntax quoted => quoted.Value ?? "",
        _ => key.ToString() ?? "",
    };

    /// <summary>Tomlyn's spans are 0-based; ours are 1-based.</summary>
    public static SourcePosition PositionOf(SyntaxNodeBase node) => new(node.Span.Start.Line + 1, node.Span.Start.Column + 1);
}
