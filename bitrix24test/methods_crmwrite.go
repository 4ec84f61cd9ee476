package bitrix24test

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// crm.item.add, crm.item.update and crm.item.delete over the fake's CRM items
// (methods_crm.go), so that tests can change what crm.item.list returns and see the
// offline events a portal keeps for it.
//
//   - params: entityTypeId, id (update, delete), fields (add, update) with title,
//     stageId, assignedById and opportunity (names case-insensitive; others ignored).
//   - result: {"item": {...}} for add and update (the fields of crm.item.list), [] for
//     delete. An id the type does not hold is 400 NOT_FOUND "Element not found" (the
//     fake's text).
//   - Each change fires ONCRM<TYPE>ADD, ...UPDATE or ...DELETE (TYPE: LEAD 1, DEAL 2,
//     CONTACT 3, COMPANY 4, else DYNAMICITEM) with data {"FIELDS": {"ID": id}} (plus
//     "ENTITY_TYPE_ID" for smart processes), recorded for the offline bindings
//     (methods_eventoffline.go).
//   - Items are replaced, never changed in place: snapshots share them.

// crmEventName is the event a change of an item of typeID fires.
func crmEventName(typeID int, op string) string {
	ent := "DYNAMICITEM"
	switch typeID {
	case 1:
		ent = "LEAD"
	case 2:
		ent = "DEAL"
	case 3:
		ent = "CONTACT"
	case 4:
		ent = "COMPANY"
	}
	return "ONCRM" + ent + op
}

func crmEventData(typeID, id int) *omap {
	fields := newOmap()
	fields.set("ID", id)
	if crmEventName(typeID, "") == "ONCRMDYNAMICITEM" {
		fields.set("ENTITY_TYPE_ID", typeID)
	}
	data := newOmap()
	data.set("FIELDS", fields)
	return data
}

// crmTypeParam reads entityTypeId (>= 1).
func crmTypeParam(c *callCtx) (int, *restError) {
	v, _ := paramCI(c.params, "entityTypeId")
	if t := phpIntval(v); t >= 1 {
		return t, nil
	}
	return 0, crmArgErr("entityTypeId is required")
}

// crmFind returns the index of item id of typeID.
func (st *crmStore) find(typeID, id int) (int, bool) {
	return slices.BinarySearchFunc(st.items[typeID], id, func(it *crmItem, id int) int { return cmp.Compare(it.id, id) })
}

func crmNotFound() *restError {
	return newErr(http.StatusBadRequest, "NOT_FOUND", "Element not found")
}

// applyFields sets the writable fields given in v on it.
func applyFields(it *crmItem, v any) {
	m, _ := asMap(v)
	for _, k := range sortedKeys(m) {
		f, ok := crmField(k)
		if !ok {
			continue
		}
		switch f {
		case "title":
			it.title, _ = scalarString(m[k])
		case "stageId":
			it.stageID, _ = scalarString(m[k])
		case "assignedById":
			it.assignedByID = phpIntval(m[k])
		case "opportunity":
			it.opportunity = phpFloatval(m[k])
		}
	}
}

func crmItemResult(it *crmItem) *omap {
	row := newOmap()
	for _, f := range crmFields {
		row.set(f, it.field(f))
	}
	res := newOmap()
	res.set("item", row)
	return res
}

// methodCRMItemAdd is crm.item.add.
func methodCRMItemAdd(c *callCtx) (any, *navData, *restError) {
	typeID, err := crmTypeParam(c)
	if err != nil {
		return nil, nil, err
	}
	st := &c.s.crm
	if st.items == nil {
		st.items, st.lastID = map[int][]*crmItem{}, map[int]int{}
	}
	st.lastID[typeID]++
	it := &crmItem{id: st.lastID[typeID], stageID: "NEW", assignedByID: c.auth.userID, createdTime: c.s.cfg.now().Truncate(time.Second)}
	fields, _ := paramCI(c.params, "fields")
	applyFields(it, fields)
	if strings.TrimSpace(it.title) == "" {
		it.title = "Item #" + strconv.Itoa(it.id)
	}
	st.items[typeID] = append(st.items[typeID], it)
	c.s.fireEvent(c.auth, crmEventName(typeID, "ADD"), crmEventData(typeID, it.id))
	return crmItemResult(it), nil, nil
}

// crmItemParam resolves the entityTypeId and id params of crm.item.update/delete to the
// item's index in its type, or the server's not-found error.
func crmItemParam(c *callCtx) (typeID, id, i int, err *restError) {
	if typeID, err = crmTypeParam(c); err != nil {
		return 0, 0, 0, err
	}
	v, _ := paramCI(c.params, "id")
	id = phpIntval(v)
	i, found := c.s.crm.find(typeID, id)
	if !found {
		return 0, 0, 0, crmNotFound()
	}
	return typeID, id, i, nil
}

// methodCRMItemUpdate is crm.item.update.
func methodCRMItemUpdate(c *callCtx) (any, *navData, *restError) {
	typeID, id, i, err := crmItemParam(c)
	if err != nil {
		return nil, nil, err
	}
	st := &c.s.crm
	it := *st.items[typeID][i]
	fields, _ := paramCI(c.params, "fields")
	applyFields(&it, fields)
	st.items[typeID][i] = &it
	c.s.fireEvent(c.auth, crmEventName(typeID, "UPDATE"), crmEventData(typeID, id))
	return crmItemResult(&it), nil, nil
}

// methodCRMItemDelete is crm.item.delete.
func methodCRMItemDelete(c *callCtx) (any, *navData, *restError) {
	typeID, id, i, err := crmItemParam(c)
	if err != nil {
		return nil, nil, err
	}
	st := &c.s.crm
	st.items[typeID] = slices.Delete(slices.Clone(st.items[typeID]), i, i+1)
	c.s.fireEvent(c.auth, crmEventName(typeID, "DELETE"), crmEventData(typeID, id))
	return []any{}, nil, nil
}
