package gemini

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"sluice/relay/format"
)

// DecodeRequest converts a generateContent request body into a
// format.Request. Model and Stream are left for the caller (they come
// from the URL path). Built-in tools (googleSearch, codeExecution,
// urlContext…), safetySettings, cachedContent, candidateCount, seed and
// the penalties are ignored: the IR cannot carry them.
func DecodeRequest(body []byte) (*format.Request, error) {
	root, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	var contents, system, tools, toolConfig, genConfig gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "contents":
			contents = v
		case "systemInstruction", "system_instruction":
			system = v
		case "tools":
			tools = v
		case "toolConfig", "tool_config":
			toolConfig = v
		case "generationConfig", "generation_config":
			genConfig = v
		}
		return true
	})
	if !contents.Exists() || contents.Type == gjson.Null {
		return nil, invalid("contents", "is required")
	}
	r := &format.Request{}
	if r.Messages, err = decodeContents(contents); err != nil {
		return nil, err
	}
	if r.System, err = decodeSystem(system); err != nil {
		return nil, err
	}
	if r.Tools, err = decodeTools(tools); err != nil {
		return nil, err
	}
	if r.ToolChoice, err = decodeToolConfig(toolConfig); err != nil {
		return nil, err
	}
	if err := decodeGenConfig(genConfig, r); err != nil {
		return nil, err
	}
	return r, nil
}

func decodeContents(v gjson.Result) ([]format.Message, error) {
	var msgs []format.Message
	tr := &callTracker{}
	err := each(v, "contents", func(i int, el gjson.Result) error {
		where := "contents[" + strconv.Itoa(i) + "]"
		if !el.IsObject() {
			return invalid(where, "must be an object")
		}
		role, err := str(el.Get("role"), where+".role")
		if err != nil {
			return err
		}
		msg := format.Message{}
		switch role {
		case "user", "", "function":
			// An unset role is a user turn; "function" is the role older
			// clients gave function responses.
			msg.Role = format.RoleUser
		case "model":
			msg.Role = format.RoleAssistant
			tr.newTurn()
		default:
			return invalid(where+".role", "must be \"user\" or \"model\"")
		}
		if err := decodeParts(el.Get("parts"), where+".parts", &msg, tr); err != nil {
			return err
		}
		if len(msg.Parts) > 0 {
			msgs = append(msgs, msg)
		}
		return nil
	})
	return msgs, err
}

func decodeSystem(v gjson.Result) ([]format.Part, error) {
	if err := object(v, "systemInstruction"); err != nil {
		return nil, err
	}
	var parts []format.Part
	err := each(v.Get("parts"), "systemInstruction.parts", func(i int, el gjson.Result) error {
		where := "systemInstruction.parts[" + strconv.Itoa(i) + "]"
		if !el.IsObject() {
			return invalid(where, "must be an object")
		}
		p := scanPart(el)
		if p.inline.Exists() || p.file.Exists() || p.call.Exists() || p.resp.Exists() {
			return invalid(where, "only text parts are supported in a system instruction")
		}
		text, err := str(p.text, where+".text")
		if text != "" {
			parts = append(parts, format.Part{Type: format.PartText, Text: text})
		}
		return err
	})
	return parts, err
}

func decodeTools(v gjson.Result) ([]format.Tool, error) {
	var tools []format.Tool
	err := each(v, "tools", func(i int, el gjson.Result) error {
		where := "tools[" + strconv.Itoa(i) + "]"
		if !el.IsObject() {
			return invalid(where, "must be an object")
		}
		var decls gjson.Result
		el.ForEach(func(k, val gjson.Result) bool {
			if k.Str == "functionDeclarations" || k.Str == "function_declarations" {
				decls = val
			}
			return true
		})
		return each(decls, where+".functionDeclarations", func(j int, d gjson.Result) error {
			t, err := decodeDeclaration(d, where+".functionDeclarations["+strconv.Itoa(j)+"]")
			if err == nil {
				tools = append(tools, t)
			}
			return err
		})
	})
	return tools, err
}

func decodeDeclaration(v gjson.Result, where string) (format.Tool, error) {
	var t format.Tool
	if !v.IsObject() {
		return t, invalid(where, "must be an object")
	}
	var nameV, descV, params, jsonParams gjson.Result
	v.ForEach(func(k, val gjson.Result) bool {
		switch k.Str {
		case "name":
			nameV = val
		case "description":
			descV = val
		case "parameters":
			params = val
		case "parametersJsonSchema", "parameters_json_schema":
			jsonParams = val
		}
		return true
	})
	var err error
	if t.Name, err = str(nameV, where+".name"); err != nil {
		return t, err
	}
	if t.Description, err = str(descV, where+".description"); err != nil {
		return t, err
	}
	switch {
	case jsonParams.Exists() && jsonParams.Type != gjson.Null:
		if !jsonParams.IsObject() {
			return t, invalid(where+".parametersJsonSchema", "must be an object")
		}
		t.Parameters = json.RawMessage(jsonParams.Raw)
	case params.Exists() && params.Type != gjson.Null:
		if !params.IsObject() {
			return t, invalid(where+".parameters", "must be an object")
		}
		t.Parameters = openAPIToJSONSchema(params.Raw)
	}
	return t, nil
}

// openAPIToJSONSchema converts Gemini's OpenAPI-subset Schema into JSON
// Schema for the other dialects: its type names are upper case ("OBJECT")
// where JSON Schema wants lower case. Other differences (nullable,
// propertyOrdering) are left as they are; JSON Schema ignores unknown
// keywords.
func openAPIToJSONSchema(raw string) json.RawMessage {
	var v any
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber() // keep 64-bit bounds and the like exact
	if err := dec.Decode(&v); err != nil {
		return json.RawMessage(raw)
	}
	lowerTypes(v)
	out, err := format.Marshal(v)
	if err != nil {
		return json.RawMessage(raw)
	}
	return out
}

var openAPITypes = map[string]bool{
	"STRING": true, "NUMBER": true, "INTEGER": true, "BOOLEAN": true,
	"ARRAY": true, "OBJECT": true, "NULL": true,
}

func lowerTypes(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == "type" && openAPITypes[s] {
				x[k] = strings.ToLower(s)
				continue
			}
			lowerTypes(val)
		}
	case []any:
		for _, el := range x {
			lowerTypes(el)
		}
	}
}

func decodeToolConfig(v gjson.Result) (*format.ToolChoice, error) {
	if err := object(v, "toolConfig"); err != nil {
		return nil, err
	}
	var fcc gjson.Result
	v.ForEach(func(k, val gjson.Result) bool {
		if k.Str == "functionCallingConfig" || k.Str == "function_calling_config" {
			fcc = val
		}
		return true
	})
	where := "toolConfig.functionCallingConfig"
	if err := object(fcc, where); err != nil || !fcc.Exists() {
		return nil, err
	}
	var modeV, namesV gjson.Result
	fcc.ForEach(func(k, val gjson.Result) bool {
		switch k.Str {
		case "mode":
			modeV = val
		case "allowedFunctionNames", "allowed_function_names":
			namesV = val
		}
		return true
	})
	mode, err := str(modeV, where+".mode")
	if err != nil {
		return nil, err
	}
	var names []string
	err = each(namesV, where+".allowedFunctionNames", func(i int, el gjson.Result) error {
		s, err := str(el, where+".allowedFunctionNames["+strconv.Itoa(i)+"]")
		names = append(names, s)
		return err
	})
	if err != nil {
		return nil, err
	}
	switch strings.ToUpper(mode) {
	case "NONE":
		return &format.ToolChoice{Mode: format.ToolChoiceNone}, nil
	case "ANY":
		// One allowed name is "call this tool"; several cannot be said in
		// the IR, so the restriction is relaxed to "call any tool".
		if len(names) == 1 {
			return &format.ToolChoice{Mode: format.ToolChoiceTool, Name: names[0]}, nil
		}
		return &format.ToolChoice{Mode: format.ToolChoiceRequired}, nil
	case "AUTO", "VALIDATED":
		return &format.ToolChoice{Mode: format.ToolChoiceAuto}, nil
	case "", "MODE_UNSPECIFIED":
		return nil, nil
	}
	return nil, invalid(where+".mode", "must be AUTO, ANY, NONE or VALIDATED")
}

// genFields are generationConfig's fields the IR carries.
type genFields struct {
	maxTokens, temperature, topP, topK, stop, mime, schema, jsonSchema, thinking gjson.Result
}

func decodeGenConfig(v gjson.Result, r *format.Request) error {
	const where = "generationConfig"
	if err := object(v, where); err != nil {
		return err
	}
	var g genFields
	v.ForEach(func(k, val gjson.Result) bool {
		switch k.Str {
		case "maxOutputTokens", "max_output_tokens":
			g.maxTokens = val
		case "temperature":
			g.temperature = val
		case "topP", "top_p":
			g.topP = val
		case "topK", "top_k":
			g.topK = val
		case "stopSequences", "stop_sequences":
			g.stop = val
		case "responseMimeType", "response_mime_type":
			g.mime = val
		case "responseSchema", "response_schema":
			g.schema = val
		case "responseJsonSchema", "response_json_schema":
			g.jsonSchema = val
		case "thinkingConfig", "thinking_config":
			g.thinking = val
		}
		return true
	})
	var err error
	if r.MaxTokens, _, err = integer(g.maxTokens, where+".maxOutputTokens", 0, 1<<31-1); err != nil {
		return err
	}
	if r.Temperature, err = number(g.temperature, where+".temperature"); err != nil {
		return err
	}
	if r.TopP, err = number(g.topP, where+".topP"); err != nil {
		return err
	}
	if r.TopK, err = topK(g.topK); err != nil {
		return err
	}
	err = each(g.stop, where+".stopSequences", func(i int, el gjson.Result) error {
		s, err := str(el, where+".stopSequences["+strconv.Itoa(i)+"]")
		r.Stop = append(r.Stop, s)
		return err
	})
	if err != nil {
		return err
	}
	if r.ResponseFormat, err = decodeResponseFormat(g); err != nil {
		return err
	}
	r.Thinking, err = decodeThinking(g.thinking)
	return err
}

// topK reads generationConfig.topK: an integer in the proto, but clients
// send 40.0, so it is rounded.
func topK(v gjson.Result) (*int, error) {
	const where = "generationConfig.topK"
	f, err := number(v, where)
	if err != nil || f == nil {
		return nil, err
	}
	if *f < 0 || *f > 1<<31-1 {
		return nil, invalid(where, "must be from 0 to 2147483647")
	}
	k := int(*f + 0.5)
	return &k, nil
}

func decodeResponseFormat(g genFields) (*format.ResponseFormat, error) {
	const where = "generationConfig"
	mime, err := str(g.mime, where+".responseMimeType")
	if err != nil {
		return nil, err
	}
	if err := object(g.schema, where+".responseSchema"); err != nil {
		return nil, err
	}
	if err := object(g.jsonSchema, where+".responseJsonSchema"); err != nil {
		return nil, err
	}
	switch {
	case g.jsonSchema.IsObject():
		return &format.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(g.jsonSchema.Raw)}, nil
	case g.schema.IsObject():
		return &format.ResponseFormat{Type: "json_schema", Schema: openAPIToJSONSchema(g.schema.Raw)}, nil
	case mime == "application/json":
		return &format.ResponseFormat{Type: "json_object"}, nil
	}
	// text/plain, text/x.enum without a schema: nothing the IR can say.
	return nil, nil
}

// decodeThinking maps thinkingConfig: a budget of 0 disables thinking,
// -1 is Gemini's dynamic budget (enabled, no figure), thinkingLevel is the
// effort. includeThoughts alone cannot be said in the IR ("think but do
// not show it"): true enables thinking, false leaves it unset.
func decodeThinking(v gjson.Result) (*format.Thinking, error) {
	const where = "generationConfig.thinkingConfig"
	if err := object(v, where); err != nil || !v.IsObject() {
		return nil, err
	}
	var budgetV, includeV, levelV gjson.Result
	v.ForEach(func(k, val gjson.Result) bool {
		switch k.Str {
		case "thinkingBudget", "thinking_budget":
			budgetV = val
		case "includeThoughts", "include_thoughts":
			includeV = val
		case "thinkingLevel", "thinking_level":
			levelV = val
		}
		return true
	})
	budget, hasBudget, err := integer(budgetV, where+".thinkingBudget", -1, 1<<31-1)
	if err != nil {
		return nil, err
	}
	include, err := boolean(includeV, where+".includeThoughts")
	if err != nil {
		return nil, err
	}
	level, err := str(levelV, where+".thinkingLevel")
	if err != nil {
		return nil, err
	}
	level = strings.ToLower(level)
	if level == "thinking_level_unspecified" {
		level = ""
	}
	switch {
	case hasBudget && budget == 0:
		return &format.Thinking{Enabled: false}, nil
	case hasBudget && budget > 0:
		return &format.Thinking{Enabled: true, BudgetTokens: budget, Effort: level}, nil
	case hasBudget || level != "" || include:
		return &format.Thinking{Enabled: true, Effort: level}, nil
	}
	return nil, nil
}
