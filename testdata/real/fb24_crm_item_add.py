response = {
    "result": {
        "result": {
            "order0000000000": {
                "item": {
                    "id": 247,
                    "xmlId": "",
                    "title": "Андрей Макарцев\n",
                    "createdBy": 6511,
                    "updatedBy": 6511,
                    "movedBy": 6511,
                    "createdTime": "2024-05-21T15:14:26+03:00",
                    "updatedTime": "2024-05-21T15:14:27+03:00",
                    "movedTime": "2024-05-21T15:14:26+03:00",
                    "entityTypeId": 133,
                }
            }
        },
        "result_error": [],
        "result_total": [],
        "result_next": [],
        "result_time": {
            "order0000000000": {
                "start": 1716293667.476324,
                "finish": 1716293667.52081,
                "duration": 0.04448580741882324,
                "processing": 0.04400205612182617,
                "date_start": "2024-05-21T15:14:27+03:00",
                "date_finish": "2024-05-21T15:14:27+03:00",
            }
        },
    },
    "time": {
        "start": 1716293667.454244,
        "finish": 1716293667.52083,
        "duration": 0.06658601760864258,
        "processing": 0.04455399513244629,
        "date_start": "2024-05-21T15:14:27+03:00",
        "date_finish": "2024-05-21T15:14:27+03:00",
    },
}
